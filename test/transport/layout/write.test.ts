// Writing OCI layouts that skopeo must read with equal bytes.
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { before, describe, it } from "node:test";
import { isDrayError } from "../../../src/errors.js";
import { Digest, VerifyingStream } from "../../../src/oci/digest.js";
import type { LayoutLocation } from "../../../src/ref/location.js";
import { openLayoutDestination, openLayoutReferences, openLayoutSource } from "../../../src/transport/layout/index.js";
import { blobsOf, buildImage, buildIndex, seededBytes, type BuiltImage, type BuiltIndex } from "../../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { copyImage, putBuilt, readIndexJson, snapshot } from "./util.js";

const REF_NAME = "org.opencontainers.image.ref.name";

function loc(path: string, tag?: string): LayoutLocation {
  return tag === undefined ? { transport: "oci", path } : { transport: "oci", path, ref: { kind: "tag", tag } };
}

describe("layout destination: skopeo reads what dray writes", () => {
  let image: BuiltImage;
  let index: BuiltIndex;
  before(async () => {
    image = await buildImage({ seed: "write-single", layerCount: 2, manifestIndent: 2 });
    index = await buildIndex({ seed: "write-multi", sharedBaseLayer: true });
  });

  it("a single image: skopeo inspect --raw gives the same bytes, skopeo copy succeeds", async () => {
    const dir = join(makeTempDir(), "new-layout");
    const dest = await openLayoutDestination(loc(dir, "v1"), {});
    assert.deepEqual(dest.capabilities, {
      needsUncompressedLayers: false,
      acceptsIndex: true,
      preservesDigests: true,
      supportsMount: false,
      concurrentPutBlob: true,
      keepsForeignLayers: true,
      ociLayout: true,
    });
    await putBuilt(dest, image);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:v1`), image.manifest.bytes);
    const other = makeTempDir();
    assertSkopeoOk(await skopeoCopy(`oci:${dir}:v1`, `oci:${other}:copied`));
    assert.deepEqual(await skopeoInspectRaw(`oci:${other}:copied`), image.manifest.bytes);
    // Nothing of dray's is left in a finished layout.
    assert.deepEqual((await readdir(dir)).sort(), ["blobs", "index.json", "oci-layout"]);
    // skopeo adds a tag to the same layout; dray keeps it when it writes the next image.
    assertSkopeoOk(await skopeoCopy(`oci:${dir}:v1`, `oci:${dir}:by-skopeo`));
    await putBuilt(await openLayoutDestination(loc(dir, "v2"), {}), index);
    assert.deepEqual((await (await openLayoutReferences(loc(dir), {})).listTags()).sort(), ["by-skopeo", "v1", "v2"]);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:by-skopeo`), image.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:v2`), index.manifest.bytes);
  });

  it("a multi-platform index: equal bytes for the index and each platform", async () => {
    const dir = makeTempDir();
    const dest = await openLayoutDestination(loc(dir, "multi"), {});
    await putBuilt(dest, index);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:multi`), index.manifest.bytes);
    const other = makeTempDir();
    assertSkopeoOk(await skopeoCopy(`oci:${dir}:multi`, `oci:${other}:all`, ["--all", "--preserve-digests"]));
    assert.deepEqual(await skopeoInspectRaw(`oci:${other}:all`), index.manifest.bytes);
    for (const child of index.images) {
      const src = await openLayoutSource({ transport: "oci", path: other, ref: { kind: "digest", digest: child.manifest.digest } }, {});
      assert.deepEqual((await src.getManifest()).bytes, child.manifest.bytes);
    }
  });

  it("dray → dray layout copy of an index, then skopeo reads the copy", async () => {
    const a = makeTempDir();
    await putBuilt(await openLayoutDestination(loc(a, "x"), {}), index);
    const b = makeTempDir();
    const digest = await copyImage(await openLayoutSource(loc(a, "x"), {}), await openLayoutDestination(loc(b, "y"), {}));
    assert.equal(digest.toString(), index.manifest.digest.toString());
    assert.deepEqual(await skopeoInspectRaw(`oci:${b}:y`), index.manifest.bytes);
  });
});

describe("layout destination: several images, tags, commit and abort", () => {
  it("keeps other images, moves an existing tag instead of duplicating it", async () => {
    const dir = makeTempDir();
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((seed) => buildImage({ seed })));
    await putBuilt(await openLayoutDestination(loc(dir, "t"), {}), a!);
    await putBuilt(await openLayoutDestination(loc(dir, "u"), {}), b!);
    await putBuilt(await openLayoutDestination(loc(dir, "t"), {}), c!);
    const idx = await readIndexJson(dir);
    const names = idx.manifests.map((m) => m.annotations?.[REF_NAME]);
    assert.deepEqual(names.sort(), ["t", "u"]);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:t`), c!.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:u`), b!.manifest.bytes);
    const dest = await openLayoutDestination(loc(dir, "t"), {});
    assert.equal((await dest.currentDigest())?.toString(), c!.manifest.digest.toString());
    await dest.abort();
    assert.equal(await (await openLayoutDestination(loc(dir, "nope"), {})).currentDigest(), undefined);
  });

  it("keeps entries of other tools' index.json as found (unknown fields)", async () => {
    const dir = makeTempDir();
    const a = await buildImage({ seed: "keep" });
    await putBuilt(await openLayoutDestination(loc(dir, "a"), {}), a);
    const idx = (await readIndexJson(dir)) as unknown as {
      manifests: Array<Record<string, unknown>>;
      annotations?: Record<string, string>;
    };
    idx.manifests[0]!.platform = { os: "linux", architecture: "amd64" };
    idx.manifests[0]!["x-extra"] = 42;
    idx.annotations = { "org.example": "kept" };
    await writeFile(join(dir, "index.json"), JSON.stringify(idx));
    await putBuilt(await openLayoutDestination(loc(dir, "b"), {}), await buildImage({ seed: "keep2" }));
    const after = (await readIndexJson(dir)) as unknown as {
      manifests: Array<Record<string, unknown>>;
      annotations?: Record<string, string>;
    };
    assert.equal(after.manifests[0]!["x-extra"], 42);
    assert.deepEqual(after.annotations, { "org.example": "kept" });
    assert.equal(after.manifests.length, 2);
  });

  it("without REF stores an unnamed entry, once", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "unnamed" });
    await putBuilt(await openLayoutDestination(loc(dir), {}), img);
    await putBuilt(await openLayoutDestination(loc(dir), {}), img);
    const idx = await readIndexJson(dir);
    assert.equal(idx.manifests.length, 1);
    assert.equal(idx.manifests[0]!.annotations, undefined);
    assert.equal(idx.manifests[0]!.digest, img.manifest.digest.toString());
    // skopeo reads a layout's only image without a name.
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}`), img.manifest.bytes);
  });

  it("nothing is visible before commit; abort leaves index.json and no temporaries", async () => {
    const dir = makeTempDir();
    const first = await buildImage({ seed: "first" });
    await putBuilt(await openLayoutDestination(loc(dir, "keep"), {}), first);
    const before = await readIndexJson(dir);
    const dest = await openLayoutDestination(loc(dir, "new"), {});
    const img = await buildImage({ seed: "aborted" });
    for (const b of blobsOf(img)) await dest.putBlob(b, Readable.from([b.bytes]));
    await dest.putManifest(img.manifest, { isTop: true });
    assert.deepEqual(await readIndexJson(dir), before);
    await dest.abort();
    assert.deepEqual(await readIndexJson(dir), before);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith(".")),
      [],
    );
  });

  it("a blob stream that fails mid-way or carries wrong bytes leaves no blob and no temporary", async () => {
    const dir = makeTempDir();
    const dest = await openLayoutDestination(loc(dir, "t"), {});
    const bytes = seededBytes("partial", 300_000);
    const img = await buildImage({ seed: "partial" });
    const layer = img.layers[0]!;
    const failing = new Readable({
      read() {
        this.push(bytes.subarray(0, 100_000));
        this.destroy(new Error("connection reset"));
      },
    });
    await assert.rejects(dest.putBlob(layer, failing), /connection reset/);
    await assert.rejects(dest.putBlob(layer, Readable.from([seededBytes("wrong", layer.size)])), (e: unknown) =>
      isDrayError(e, "E_DIGEST_MISMATCH"),
    );
    await assert.rejects(dest.putBlob(layer, Readable.from([layer.bytes, Buffer.from("x")])), (e: unknown) =>
      isDrayError(e, "E_SIZE_MISMATCH"),
    );
    assert.equal(await dest.hasBlob(layer), false);
    await dest.abort();
    const snap = await snapshot(dir);
    assert.deepEqual(
      Object.keys(snap).filter((k) => k.startsWith(".") || k.includes("/.")),
      [],
    );
    assert.deepEqual(
      Object.keys(snap).filter((k) => k.startsWith("blobs/sha256/") && k !== "blobs/sha256/"),
      [],
    );
  });

  it("a stream that verifies itself is trusted only for its own digest: wrong bytes still leave no blob", async () => {
    const dir = makeTempDir();
    const dest = await openLayoutDestination(loc(dir, "t"), {});
    const img = await buildImage({ seed: "self-verified" });
    const layer = img.layers[0]!;
    const wrong = seededBytes("wrong", layer.size);
    // As the engine does: bytes through a verifier inside a pipeline whose sink is putBlob.
    const through = (bytes: Buffer, verifier: VerifyingStream): Promise<void> =>
      pipeline(Readable.from([bytes]), verifier, async (verified: AsyncIterable<Buffer>) =>
        dest.putBlob(layer, verified as VerifyingStream),
      );
    // Same digest and size: the layout reuses the verifier, which must still fail the write.
    await assert.rejects(through(wrong, new VerifyingStream({ digest: layer.digest, size: layer.size })), (e: unknown) =>
      isDrayError(e, "E_DIGEST_MISMATCH"),
    );
    // A verifier of other bytes (their own digest) proves nothing about this descriptor: the layout checks again.
    await assert.rejects(through(wrong, new VerifyingStream({ digest: Digest.of(wrong), size: wrong.length })), (e: unknown) =>
      isDrayError(e, "E_DIGEST_MISMATCH"),
    );
    assert.equal(await dest.hasBlob(layer), false);
    await through(layer.bytes, new VerifyingStream({ digest: layer.digest, size: layer.size }));
    assert.equal(await dest.hasBlob(layer), true);
    await dest.abort();
  });

  it("refuses a non-empty directory that is not a layout", async () => {
    const dir = makeTempDir();
    await writeFile(join(dir, "notes.txt"), "mine");
    await assert.rejects(openLayoutDestination(loc(dir, "t"), {}), (e: unknown) => isDrayError(e, "E_LOCATION_INVALID"));
    assert.deepEqual(await readdir(dir), ["notes.txt"]);
  });

  it("a destination naming a digest stores the image unnamed and refuses another image", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "bydigest" });
    await putBuilt(
      await openLayoutDestination({ transport: "oci", path: dir, ref: { kind: "digest", digest: img.manifest.digest } }, {}),
      img,
    );
    assert.equal((await readIndexJson(dir)).manifests[0]!.digest, img.manifest.digest.toString());
    const other = await buildImage({ seed: "other" });
    const dest = await openLayoutDestination({ transport: "oci", path: dir, ref: { kind: "digest", digest: img.manifest.digest } }, {});
    await assert.rejects(putBuilt(dest, other), (e: unknown) => isDrayError(e, "E_DIGEST_MISMATCH"));
    await dest.abort();
  });
});
