// A bare stream error (an fs EIO, a socket reset, a stage closed under the
// pipeline: "Premature close") never reaches the user raw: the copy fails with
// a DrayError naming the blob and the side it came from (issue 27 item 26), a
// network one is tried again, and the copy settles only once the destination's
// putBlob has.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { copyImage } from "../../src/copy/engine.js";
import { DrayError } from "../../src/errors.js";
import type { Descriptor } from "../../src/oci/manifest.js";
import type { BlobReadOptions } from "../../src/transport/types.js";
import { MemoryDestination, MemorySource, bytesOf, image, layer } from "./doubles.js";

const AMD64 = { os: "linux", architecture: "amd64" };

function bare(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

async function failure(p: Promise<unknown>): Promise<DrayError> {
  const err = await p.then(
    () => assert.fail("the copy succeeded"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DrayError, `a DrayError, not ${String(err)}`);
  return err;
}

describe("copyImage: a bare stream error becomes a typed one naming the blob and its side", () => {
  const big = layer(bytesOf("big", 200_000));
  const img = image(AMD64, [big]);
  const digest = big.desc.digest.toString();

  it("the source's read failing (EIO) is an E_IO error reading from the source", async () => {
    class FailingSource extends MemorySource {
      override async getBlob(d: Descriptor, opts?: BlobReadOptions): Promise<Readable> {
        if (d.digest.toString() !== digest) return super.getBlob(d, opts);
        return Readable.from(
          (async function* () {
            yield Buffer.alloc(16_384);
            throw bare("EIO: i/o error, read", "EIO");
          })(),
        );
      }
    }
    const err = await failure(copyImage(new FailingSource(img.manifest, [img]), new MemoryDestination()));
    assert.equal(err.code, "E_IO");
    assert.match(err.message, new RegExp(`blob ${digest}: reading from oci:/memory/src:v1 failed: EIO: i/o error`));
  });

  it("a destination that closes the stream it was given before its end (as undici does to a request body) is an error writing to it", async () => {
    let settled = false;
    class ClosingDestination extends MemoryDestination {
      override async putBlob(d: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void> {
        if (d.digest.toString() !== digest) return super.putBlob(d, data, opts);
        // undici's way with a request body when the answer comes: destroy() without an error.
        await new Promise((resolve) => data.once("data", resolve));
        data.destroy();
        await new Promise((resolve) => setTimeout(resolve, 50));
        settled = true;
      }
    }
    const err = await failure(copyImage(new MemorySource(img.manifest, [img]), new ClosingDestination()));
    assert.equal(err.code, "E_IO");
    assert.match(err.message, new RegExp(`blob ${digest}: writing to oci:/memory/dst:v1 failed: the stream was closed before its end`));
    assert.ok(settled, "the copy failed only after the destination's putBlob settled");
  });

  it("a bare ECONNRESET from the destination is a network error, and the blob is sent again", async () => {
    let tries = 0;
    class ResetOnce extends MemoryDestination {
      override async putBlob(d: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void> {
        if (d.digest.toString() === digest && tries++ === 0) {
          data.destroy(bare("read ECONNRESET", "ECONNRESET"));
          throw bare("read ECONNRESET", "ECONNRESET");
        }
        return super.putBlob(d, data, opts);
      }
    }
    const dst = new ResetOnce();
    await copyImage(new MemorySource(img.manifest, [img]), dst);
    assert.equal(tries, 2);
    assert.ok(dst.blobs.has(digest));
  });
});
