// oci-archive read and write, with skopeo 1.9 as the independent peer both
// ways, and the reference face (ls, tag, delete).
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { Digest } from "../../../src/oci/digest.js";
import { parseManifest } from "../../../src/oci/manifest.js";
import type { LayoutLocation } from "../../../src/ref/location.js";
import { openOciArchiveDestination, openOciArchiveReferences, openOciArchiveSource } from "../../../src/transport/archive/index.js";
import { TarIndex } from "../../../src/transport/archive/tar-index.js";
import type { ImageSource } from "../../../src/transport/types.js";
import { blobsOf, buildImage, buildIndex, manifestsOf, writeOciLayout, type Built } from "../../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { putBuilt, streamToBuffer } from "../layout/util.js";
import { code, listing } from "./support.js";

function loc(path: string, tag?: string): LayoutLocation {
  return tag === undefined ? { transport: "oci-archive", path } : { transport: "oci-archive", path, ref: { kind: "tag", tag } };
}

async function readLayoutIndex(dir: string): Promise<Array<{ digest: string; annotations?: Record<string, string> }>> {
  return (
    JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
    }
  ).manifests;
}

/** Reads everything `built` holds through `src` and compares bytes with the fixture. */
async function assertSourceServes(src: ImageSource, built: Built): Promise<void> {
  const top = await src.getManifest();
  assert.ok(top.digest.equals(built.manifest.digest));
  assert.deepEqual(top.bytes, built.manifest.bytes);
  assert.equal(top.mediaType, built.manifest.mediaType);
  for (const m of manifestsOf(built)) {
    const got = await src.getManifest(m.digest);
    assert.deepEqual(got.bytes, m.bytes);
  }
  for (const b of blobsOf(built)) {
    const bytes = await streamToBuffer(await src.getBlob(b));
    assert.ok(Digest.of(bytes).equals(b.digest), `blob ${b.digest}`);
  }
}

describe("oci-archive written by dray, read by skopeo", () => {
  it("single image: skopeo reads the same manifest, config and layers", async () => {
    const dir = makeTempDir();
    const file = join(dir, "img.tar");
    const img = await buildImage({ seed: "oa-single", layerCount: 2 });
    await putBuilt(await openOciArchiveDestination(loc(file, "v1"), {}), img, "v1");
    assert.deepEqual(await listing(dir), ["img.tar"], "no temporary file left beside the archive");

    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:v1`), img.manifest.bytes);
    const info = await skopeoInspect(`oci-archive:${file}:v1`);
    assert.equal(info.Digest, img.manifest.digest.toString());
    assert.deepEqual(
      info.Layers,
      img.layers.map((l) => l.digest.toString()),
    );
    const out = join(dir, "copy");
    assertSkopeoOk(await skopeoCopy(`oci-archive:${file}:v1`, `oci:${out}:v1`, ["--preserve-digests"]));
    const entries = await readLayoutIndex(out);
    assert.equal(entries[0]!.digest, img.manifest.digest.toString());
    assert.deepEqual(await readFile(join(out, img.config.digest.blobPath)), img.config.bytes);
  });

  it("multi-platform index: skopeo copies every platform with equal digests", async () => {
    const dir = makeTempDir();
    const file = join(dir, "multi.tar");
    const idx = await buildIndex({ seed: "oa-multi", sharedBaseLayer: true });
    await putBuilt(await openOciArchiveDestination(loc(file, "multi"), {}), idx, "multi");

    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:multi`), idx.manifest.bytes);
    const out = join(dir, "copy");
    assertSkopeoOk(await skopeoCopy(`oci-archive:${file}:multi`, `oci:${out}:multi`, ["--all", "--preserve-digests"]));
    assert.equal((await readLayoutIndex(out))[0]!.digest, idx.manifest.digest.toString());
    for (const child of idx.images) {
      assert.deepEqual(await readFile(join(out, child.manifest.digest.blobPath)), child.manifest.bytes);
      for (const l of child.layers) assert.equal((await stat(join(out, l.digest.blobPath))).size, l.size);
    }
  });

  it("repeated copies into one archive keep every earlier image; a name given again moves, and blobs only the old image used go", async () => {
    const dir = makeTempDir();
    const file = join(dir, "many.tar");
    const a = await buildImage({ seed: "oa-many-a", layerCount: 2 });
    const idx = await buildIndex({ seed: "oa-many-i", platforms: ["linux/amd64", "linux/arm64"] });
    const c = await buildImage({ seed: "oa-many-c" });
    await putBuilt(await openOciArchiveDestination(loc(file, "a"), {}), a, "a");
    await putBuilt(await openOciArchiveDestination(loc(file, "i"), {}), idx, "i");
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:a`), a.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:i`), idx.manifest.bytes);
    await putBuilt(await openOciArchiveDestination(loc(file, "a"), {}), c, "a");
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:a`), c.manifest.bytes);
    const copied = join(dir, "check");
    assertSkopeoOk(await skopeoCopy(`oci-archive:${file}:i`, `oci:${copied}:i`, ["--all", "--preserve-digests"]));
    const tar = await TarIndex.open(file);
    for (const b of [a.manifest, ...a.layers]) assert.equal(tar.has(b.digest.blobPath), false, "a's own blobs went with its name");
    assert.deepEqual(await listing(dir), ["check", "many.tar"]);
  });

  it("writes to standard output for `-`, which skopeo reads as a file", async () => {
    const dir = makeTempDir();
    const file = join(dir, "piped.tar");
    const img = await buildImage({ seed: "oa-stdout" });
    const stdout = new PassThrough();
    const saved = pipeline(stdout, createWriteStream(file));
    await putBuilt(await openOciArchiveDestination(loc("-", "p"), { stdout }), img, "p");
    stdout.end();
    await saved;
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:p`), img.manifest.bytes);
  });
});

describe("oci-archive written by skopeo, read by dray", () => {
  it("single image: manifest bytes, config and layers verified", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "oa-skopeo-1", layerCount: 3 });
    await writeOciLayout(join(dir, "layout"), img, "t1");
    const file = join(dir, "sk.tar");
    assertSkopeoOk(await skopeoCopy(`oci:${join(dir, "layout")}:t1`, `oci-archive:${file}:t1`, ["--preserve-digests"]));
    const src = await openOciArchiveSource(loc(file, "t1"), {});
    try {
      await assertSourceServes(src, img);
    } finally {
      await src.close();
    }
    // No REF: the only image.
    const only = await openOciArchiveSource(loc(file), {});
    assert.ok((await only.getManifest()).digest.equals(img.manifest.digest));
    await only.close();
  });

  it("multi-platform index: the index and each child manifest resolve", async () => {
    const dir = makeTempDir();
    const idx = await buildIndex({ seed: "oa-skopeo-multi" });
    await writeOciLayout(join(dir, "layout"), idx, "m");
    const file = join(dir, "skm.tar");
    assertSkopeoOk(await skopeoCopy(`oci:${join(dir, "layout")}:m`, `oci-archive:${file}:m`, ["--all", "--preserve-digests"]));
    const src = await openOciArchiveSource(loc(file, "m"), {});
    try {
      await assertSourceServes(src, idx);
      const parsed = parseManifest((await src.getManifest()).bytes);
      assert.equal(parsed.kind, "index");
    } finally {
      await src.close();
    }
    // By digest of a child, as `oci-archive:F@digest` resolves nested manifests.
    const child = idx.images[1]!.manifest.digest;
    const byDigest = await openOciArchiveSource({ transport: "oci-archive", path: file, ref: { kind: "digest", digest: child } }, {});
    assert.ok((await byDigest.getManifest()).digest.equals(child));
    await byDigest.close();
  });

  it("reads an archive from standard input (`-`)", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "oa-stdin" });
    await writeOciLayout(join(dir, "layout"), img, "s");
    const file = join(dir, "in.tar");
    assertSkopeoOk(await skopeoCopy(`oci:${join(dir, "layout")}:s`, `oci-archive:${file}:s`, ["--preserve-digests"]));
    const src = await openOciArchiveSource(loc("-", "s"), { stdin: Readable.from([await readFile(file)]), tmpDir: dir });
    await assertSourceServes(src, img);
    await src.close();
    assert.deepEqual(await listing(dir), ["in.tar", "layout"], "the spooled copy of stdin is removed at close");
  });

  it("names a missing tag with the tags it has", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "oa-missing" });
    const file = join(dir, "a.tar");
    await putBuilt(await openOciArchiveDestination(loc(file, "here"), {}), img, "here");
    await assert.rejects(
      openOciArchiveSource(loc(file, "nope"), {}).then((s) => s.getManifest()),
      code("E_NOT_FOUND", /nope.*here/),
    );
  });
});

describe("oci-archive destination safety", () => {
  it("a blob whose bytes do not match is refused, and abort leaves the old archive untouched", async () => {
    const dir = makeTempDir();
    const file = join(dir, "keep.tar");
    await writeFile(file, "previous archive");
    const img = await buildImage({ seed: "oa-abort" });
    // Not an archive: replaced only when asked (--force), and even then only at commit.
    const dest = await openOciArchiveDestination(loc(file, "x"), { replaceFile: true });
    const layer = img.layers[0]!;
    await assert.rejects(dest.putBlob(layer, Readable.from([Buffer.from("not the layer")])), code("E_SIZE_MISMATCH"));
    const wrong = Buffer.alloc(layer.size, 1);
    await assert.rejects(dest.putBlob(layer, Readable.from([wrong])), code("E_DIGEST_MISMATCH"));
    assert.equal(await dest.hasBlob(layer), false);
    await dest.abort();
    assert.equal(await readFile(file, "utf8"), "previous archive");
    assert.deepEqual(await listing(dir), ["keep.tar"]);
  });

  it("commit refuses an image whose blobs were never put, writing nothing", async () => {
    const dir = makeTempDir();
    const file = join(dir, "incomplete.tar");
    const img = await buildImage({ seed: "oa-incomplete" });
    const dest = await openOciArchiveDestination(loc(file, "x"), {});
    await dest.putBlob(img.config, Readable.from([img.config.bytes]));
    await dest.putManifest(img.manifest, { isTop: true });
    await assert.rejects(dest.commit(), code("E_IO", /never written/));
    assert.deepEqual(await listing(dir), []);
  });

  it("concurrent putBlob calls of the same and different blobs give one entry each", async () => {
    const dir = makeTempDir();
    const file = join(dir, "conc.tar");
    const img = await buildImage({ seed: "oa-conc", layerCount: 4 });
    const dest = await openOciArchiveDestination(loc(file, "c"), {});
    const puts = [...img.layers, ...img.layers, img.config].map((b) => dest.putBlob(b, Readable.from([b.bytes])));
    await Promise.all(puts);
    await dest.putManifest(img.manifest, { isTop: true });
    await dest.commit();
    const tar = await TarIndex.open(file);
    const blobFiles = tar.entries.filter((e) => e.kind === "file" && e.name.startsWith("blobs/"));
    assert.equal(blobFiles.length, img.layers.length + 2);
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:c`), img.manifest.bytes);
  });
});

describe("oci-archive references", () => {
  it("lists, adds and deletes tags; delete drops blobs nothing references", async () => {
    const dir = makeTempDir();
    const file = join(dir, "refs.tar");
    const a = await buildImage({ seed: "oa-ref-a" });
    const b = await buildImage({ seed: "oa-ref-b", layerCount: 2 });
    const dest = await openOciArchiveDestination(loc(file), {});
    for (const [img, tag] of [
      [a, "a"],
      [b, "b"],
    ] as const) {
      for (const blob of blobsOf(img)) await dest.putBlob(blob, Readable.from([blob.bytes]));
      await dest.putManifest(img.manifest, { tag, isTop: true });
    }
    await dest.commit();

    const refs = await openOciArchiveReferences(loc(file, "a"), {});
    assert.deepEqual(await refs.listTags(), ["a", "b"]);
    await refs.addTag("a2");
    assert.deepEqual(await refs.listTags(), ["a", "a2", "b"]);
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:a2`), a.manifest.bytes);
    assert.deepEqual(await listing(dir), ["refs.tar"]);

    // Moving "a2" onto b leaves a with only "a".
    await (await openOciArchiveReferences(loc(file, "b"), {})).addTag("a2");
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:a2`), b.manifest.bytes);

    const del = await (await openOciArchiveReferences(loc(file, "a"), {})).deleteReference();
    assert.ok(del.digest.equals(a.manifest.digest));
    assert.equal(del.blobsRemoved, 3, "a's manifest, config and layer");
    const tar = await TarIndex.open(file);
    for (const blob of [...blobsOf(a), a.manifest]) assert.equal(tar.has(blob.digest.blobPath), false);
    for (const blob of [...blobsOf(b), b.manifest]) assert.equal(tar.has(blob.digest.blobPath), true);
    assert.deepEqual(await refs.listTags(), ["a2", "b"]);
    const info = await skopeoInspect(`oci-archive:${file}:b`);
    assert.equal(info.Digest, b.manifest.digest.toString());
    await assert.rejects((await openOciArchiveReferences(loc(file, "a"), {})).deleteReference(), code("E_NOT_FOUND"));
  });
});
