// Hostile layouts: each must be refused with a clear error, and nothing may
// be written outside the layout (nor, for refusals at open, inside it).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isDrayError, type ErrorCode } from "../../../src/errors.js";
import { Digest } from "../../../src/oci/digest.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import type { LayoutLocation } from "../../../src/ref/location.js";
import { openLayoutDestination, openLayoutReferences, openLayoutSource } from "../../../src/transport/layout/index.js";
import { buildImage, writeOciLayout, type BuiltImage } from "../../helpers/fixtures.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { copyImage, snapshot, streamToBuffer } from "./util.js";

const REF_NAME = "org.opencontainers.image.ref.name";

function loc(path: string, tag?: string): LayoutLocation {
  return tag === undefined ? { transport: "oci", path } : { transport: "oci", path, ref: { kind: "tag", tag } };
}

function code(c: ErrorCode, re?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isDrayError(e, c), `expected ${c}, got ${e instanceof Error ? `${(e as { code?: string }).code}: ${e.message}` : String(e)}`);
    if (re) assert.match(e.message, re);
    return true;
  };
}

/** base/ holds the layout and, beside it, an "outside" folder with a secret the layout points at. */
async function scene(seed: string): Promise<{ base: string; dir: string; outside: string; secret: string; img: BuiltImage }> {
  const base = makeTempDir();
  const dir = join(base, "layout");
  const outside = join(base, "outside");
  await mkdir(outside);
  const secret = join(outside, "secret");
  await writeFile(secret, "top secret\n");
  const img = await buildImage({ seed });
  await writeOciLayout(dir, img, "t");
  return { base, dir, outside, secret, img };
}

async function writeIndex(dir: string, manifests: unknown[]): Promise<void> {
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests }));
}

describe("hostile OCI layouts", () => {
  it("index.json naming a blob by an invalid digest (path traversal) is refused by source, destination and delete", async () => {
    const { base, dir } = await scene("h-traversal");
    await writeIndex(dir, [
      { mediaType: MediaType.OciManifest, digest: "sha256:../../outside/secret", size: 11, annotations: { [REF_NAME]: "t" } },
    ]);
    const before = await snapshot(base);
    await assert.rejects(openLayoutSource(loc(dir, "t"), {}), code("E_MANIFEST_INVALID", /not a valid digest/));
    await assert.rejects(openLayoutDestination(loc(dir, "t"), {}), code("E_MANIFEST_INVALID"));
    await assert.rejects((await openLayoutReferences(loc(dir, "t"), {})).deleteReference(), code("E_MANIFEST_INVALID"));
    await assert.rejects((await openLayoutReferences(loc(dir, "t"), {})).addTag("u"), code("E_MANIFEST_INVALID"));
    assert.deepEqual(await snapshot(base), before);
  });

  it("a manifest whose layer digest is a path is refused", async () => {
    const { base, dir, img } = await scene("h-layer-path");
    const bad = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: "sha256:../../../outside/secret", size: 11 },
        layers: [],
      }),
    );
    const d = Digest.of(bad);
    await writeFile(join(dir, d.blobPath), bad);
    await writeIndex(dir, [
      { mediaType: MediaType.OciManifest, digest: d.toString(), size: bad.length, annotations: { [REF_NAME]: "t" } },
      {
        mediaType: MediaType.OciManifest,
        digest: img.manifest.digest.toString(),
        size: img.manifest.bytes.length,
        annotations: { [REF_NAME]: "good" },
      },
    ]);
    const before = await snapshot(base);
    const src = await openLayoutSource(loc(dir, "t"), {});
    await assert.rejects(copyImage(src, await openLayoutDestination(loc(join(base, "dest"), "t"), {})), code("E_MANIFEST_INVALID"));
    // Deleting "good" must walk "t" to know what stays: the unreadable manifest refuses the delete before anything changes.
    await assert.rejects((await openLayoutReferences(loc(dir, "good"), {})).deleteReference(), code("E_MANIFEST_INVALID"));
    const after = await snapshot(base);
    // Only the (empty) destination layout appeared; the source and the outside are untouched.
    for (const k of Object.keys(after)) if (!k.startsWith("dest")) assert.equal(after[k], before[k], k);
    assert.deepEqual(
      Object.keys(after).filter((k) => k.startsWith("dest/blobs/sha256/") && k !== "dest/blobs/sha256/"),
      [],
    );
  });

  it("a blob that is a symlink out of the layout is refused (manifest, layer), and delete removes only the link", async () => {
    const { base, dir, secret, img } = await scene("h-symlink");
    const layer = img.layers[0]!;
    await rm(join(dir, layer.digest.blobPath));
    await symlink(secret, join(dir, layer.digest.blobPath));
    const src = await openLayoutSource(loc(dir, "t"), {});
    await assert.rejects(src.getBlob(layer), code("E_UNSAFE_INPUT", /outside the layout/));
    // The same through a relative link, for the manifest itself.
    await rm(join(dir, img.manifest.digest.blobPath));
    await symlink("../../../outside/secret", join(dir, img.manifest.digest.blobPath));
    await assert.rejects((await openLayoutSource(loc(dir, "t"), {})).getManifest(), code("E_UNSAFE_INPUT"));
    // Deleting the image removes the links themselves, never what they point at.
    const before = await snapshot(join(base, "outside"));
    const r = await (await openLayoutReferences(loc(dir, "t"), {})).deleteReference();
    assert.equal(r.blobsRemoved, 3);
    assert.deepEqual(await snapshot(join(base, "outside")), before);
    assert.equal(await readFile(secret, "utf8"), "top secret\n");
  });

  it("a blobs folder that is a symlink out of the layout is neither read nor written through", async () => {
    const { dir, outside, img } = await scene("h-blobdir");
    // The blobs really are out there: refused although the read would succeed.
    await cp(join(dir, "blobs"), outside, { recursive: true });
    await rm(join(dir, "blobs"), { recursive: true });
    await symlink(outside, join(dir, "blobs"));
    const before = await snapshot(outside);
    await assert.rejects((await openLayoutSource(loc(dir, "t"), {})).getManifest(), code("E_UNSAFE_INPUT"));
    await assert.rejects(openLayoutDestination(loc(dir, "t"), {}), code("E_UNSAFE_INPUT"));
    assert.deepEqual(await snapshot(outside), before);
    assert.ok(img);
  });

  it("a blob whose bytes do not match its digest is refused, and never lands in a destination", async () => {
    const { base, dir, img } = await scene("h-mismatch");
    const layer = img.layers[0]!;
    const tampered = Buffer.from(layer.bytes);
    tampered[tampered.length - 20] ^= 0xff;
    await writeFile(join(dir, layer.digest.blobPath), tampered);
    const destDir = join(base, "dest");
    const dest = await openLayoutDestination(loc(destDir, "t"), {});
    await assert.rejects(copyImage(await openLayoutSource(loc(dir, "t"), {}), dest), code("E_DIGEST_MISMATCH"));
    await dest.abort();
    // The run created the destination folder: a failure takes it away whole (issue 19), so no blob of it can remain.
    assert.equal(existsSync(destDir), false, "the destination folder the failed run made is gone");
    // A tampered manifest is refused on read.
    const m = Buffer.from(img.manifest.bytes);
    m[m.length - 2] = 0x20;
    await writeFile(join(dir, img.manifest.digest.blobPath), m);
    await assert.rejects((await openLayoutSource(loc(dir, "t"), {})).getManifest(), code("E_DIGEST_MISMATCH"));
  });

  it("an index.json or manifest far larger than any real one is refused unread", async () => {
    const { base, dir, img } = await scene("h-large");
    const before = await snapshot(join(base, "outside"));
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const manifest = Buffer.concat([huge, img.manifest.bytes]);
    const d = Digest.of(manifest);
    await writeFile(join(dir, d.blobPath), manifest);
    await writeIndex(dir, [
      { mediaType: MediaType.OciManifest, digest: d.toString(), size: manifest.length, annotations: { [REF_NAME]: "big" } },
    ]);
    await assert.rejects((await openLayoutSource(loc(dir, "big"), {})).getManifest(), code("E_TOO_LARGE"));
    const index = Buffer.concat([Buffer.alloc(17 * 1024 * 1024, 0x20), Buffer.from('{"schemaVersion":2,"manifests":[]}')]);
    await writeFile(join(dir, "index.json"), index);
    await assert.rejects(openLayoutSource(loc(dir), {}), code("E_TOO_LARGE", /index\.json/));
    await assert.rejects(openLayoutDestination(loc(dir, "t"), {}), code("E_TOO_LARGE"));
    assert.deepEqual(await snapshot(join(base, "outside")), before);
  });

  it("an index.json that is a symlink out of the layout is refused", async () => {
    const { dir, outside } = await scene("h-index-link");
    await writeFile(join(outside, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await rm(join(dir, "index.json"));
    await symlink(join(outside, "index.json"), join(dir, "index.json"));
    await assert.rejects(openLayoutSource(loc(dir), {}), code("E_UNSAFE_INPUT"));
    await assert.rejects(openLayoutDestination(loc(dir, "t"), {}), code("E_UNSAFE_INPUT"));
  });

  it("getBlob of a streamed blob is byte-exact (control for the refusals above)", async () => {
    const { dir, img } = await scene("h-control");
    const bytes = await streamToBuffer(await (await openLayoutSource(loc(dir, "t"), {})).getBlob(img.layers[0]!));
    assert.deepEqual(bytes, img.layers[0]!.bytes);
  });
});
