// Reading OCI layouts that skopeo (or the independent fixture writer) wrote.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { isDrayError } from "../../../src/errors.js";
import { Digest } from "../../../src/oci/digest.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import type { LayoutLocation } from "../../../src/ref/location.js";
import { openLayoutSource } from "../../../src/transport/layout/index.js";
import { blobsOf, buildImage, buildIndex, writeOciLayout, type BuiltImage, type BuiltIndex } from "../../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { streamToBuffer } from "./util.js";

function loc(path: string, tag?: string): LayoutLocation {
  return tag === undefined ? { transport: "oci", path } : { transport: "oci", path, ref: { kind: "tag", tag } };
}

describe("layout source: layouts written by skopeo", () => {
  let image: BuiltImage;
  let index: BuiltIndex;
  let skopeoDir: string;

  before(async () => {
    image = await buildImage({ seed: "read-single", layerCount: 2, manifestIndent: 3 });
    index = await buildIndex({ seed: "read-multi", sharedBaseLayer: true });
    const seed = makeTempDir();
    await writeOciLayout(seed, image, "one");
    await writeOciLayout(seed, index, "multi");
    skopeoDir = makeTempDir();
    assertSkopeoOk(await skopeoCopy(`oci:${seed}:one`, `oci:${skopeoDir}:single`));
    assertSkopeoOk(await skopeoCopy(`oci:${seed}:multi`, `oci:${skopeoDir}:multi`, ["--all", "--preserve-digests"]));
  });

  it("reads a single image by tag: manifest bytes and digest as skopeo stored them, every blob intact", async () => {
    const src = await openLayoutSource(loc(skopeoDir, "single"), {});
    const m = await src.getManifest();
    assert.deepEqual(m.bytes, image.manifest.bytes);
    assert.equal(m.digest.toString(), image.manifest.digest.toString());
    assert.equal(m.mediaType, MediaType.OciManifest);
    for (const b of blobsOf(image)) {
      const bytes = await streamToBuffer(await src.getBlob(b));
      assert.equal(Digest.of(bytes).toString(), b.digest.toString());
    }
    await src.close();
  });

  it("reads a multi-platform index and its children by digest", async () => {
    const src = await openLayoutSource(loc(skopeoDir, "multi"), {});
    const top = await src.getManifest();
    assert.deepEqual(top.bytes, index.manifest.bytes);
    assert.equal(top.mediaType, MediaType.OciIndex);
    for (const child of index.images) {
      const m = await src.getManifest(child.manifest.digest);
      assert.deepEqual(m.bytes, child.manifest.bytes);
      assert.equal(m.mediaType, MediaType.OciManifest);
    }
  });

  it("resolves a digest REF, also one naming a child inside an index", async () => {
    const child = index.images[1]!;
    const src = await openLayoutSource({ transport: "oci", path: skopeoDir, ref: { kind: "digest", digest: child.manifest.digest } }, {});
    const m = await src.getManifest();
    assert.deepEqual(m.bytes, child.manifest.bytes);
    const byTop = await openLayoutSource({ transport: "oci", path: skopeoDir, ref: { kind: "digest", digest: index.manifest.digest } }, {});
    assert.equal((await byTop.getManifest()).digest.toString(), index.manifest.digest.toString());
  });

  it("without REF refuses a layout of several images, naming the choices", async () => {
    const src = await openLayoutSource(loc(skopeoDir), {});
    await assert.rejects(src.getManifest(), (err: unknown) => {
      assert.ok(isDrayError(err, "E_USAGE"));
      assert.match(err.message, /holds 2 images/);
      assert.match(err.message, /single/);
      assert.match(err.message, /multi/);
      return true;
    });
  });

  it("an unknown tag is E_NOT_FOUND listing the tags there", async () => {
    const src = await openLayoutSource(loc(skopeoDir, "nope"), {});
    await assert.rejects(
      src.getManifest(),
      (err: unknown) => isDrayError(err, "E_NOT_FOUND") && /single, multi|multi, single/.test(err.message),
    );
  });
});

describe("layout source: REF rules and structure", () => {
  it("without REF reads the only image", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "only" });
    await writeOciLayout(dir, img);
    const src = await openLayoutSource(loc(dir), {});
    assert.equal((await src.getManifest()).digest.toString(), img.manifest.digest.toString());
  });

  it("an empty layout is E_NOT_FOUND; a missing directory is E_NOT_FOUND; a wrong oci-layout version is refused", async () => {
    const empty = makeTempDir();
    await mkdir(join(empty, "blobs"));
    await writeFile(join(empty, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(empty, "index.json"), '{"schemaVersion":2,"manifests":[]}');
    await assert.rejects((await openLayoutSource(loc(empty), {})).getManifest(), (e: unknown) => isDrayError(e, "E_NOT_FOUND"));
    await assert.rejects(openLayoutSource(loc(join(empty, "absent")), {}), (e: unknown) => isDrayError(e, "E_NOT_FOUND"));
    await writeFile(join(empty, "oci-layout"), '{"imageLayoutVersion":"9.0.0"}');
    await assert.rejects(
      openLayoutSource(loc(empty), {}),
      (e: unknown) => isDrayError(e, "E_UNSUPPORTED_MEDIA_TYPE") && /9\.0\.0/.test(e.message),
    );
  });

  it("follows nested indexes to find a child by digest", async () => {
    const dir = makeTempDir();
    const inner = await buildIndex({ seed: "nested", platforms: ["linux/amd64", "linux/arm64"] });
    await writeOciLayout(dir, inner);
    // An outer index listing the inner one, written by hand and made the only entry of index.json.
    const outerBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: MediaType.OciIndex, digest: inner.manifest.digest.toString(), size: inner.manifest.bytes.length }],
      }),
    );
    const outer = Digest.of(outerBytes);
    await writeFile(join(dir, outer.blobPath), outerBytes);
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: MediaType.OciIndex,
            digest: outer.toString(),
            size: outerBytes.length,
            annotations: { "org.opencontainers.image.ref.name": "outer" },
          },
        ],
      }),
    );
    const arm = inner.images[1]!;
    const src = await openLayoutSource({ transport: "oci", path: dir, ref: { kind: "digest", digest: arm.manifest.digest } }, {});
    assert.deepEqual((await src.getManifest()).bytes, arm.manifest.bytes);
    const viaTag = await openLayoutSource(loc(dir, "outer"), {});
    assert.deepEqual((await viaTag.getManifest(inner.manifest.digest)).bytes, inner.manifest.bytes);
  });

  it("getBlob honours an AbortSignal", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "abort", layerSize: 4 * 1024 * 1024 });
    await writeOciLayout(dir, img, "t");
    const src = await openLayoutSource(loc(dir, "t"), {});
    const ac = new AbortController();
    const stream = await src.getBlob(img.layers[0]!, { signal: ac.signal });
    const read = streamToBuffer(stream);
    ac.abort();
    await assert.rejects(read, (e: unknown) => e instanceof Error && e.name === "AbortError");
    await assert.rejects(src.getBlob(img.layers[0]!, { signal: ac.signal }), (e: unknown) => e instanceof Error && e.name === "AbortError");
  });

  it("a blob whose file size differs from its descriptor fails at once", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "size" });
    await writeOciLayout(dir, img, "t");
    const src = await openLayoutSource(loc(dir, "t"), {});
    const layer = img.layers[0]!;
    await assert.rejects(src.getBlob({ ...layer, size: layer.size + 1 }), (e: unknown) => isDrayError(e, "E_SIZE_MISMATCH"));
  });
});
