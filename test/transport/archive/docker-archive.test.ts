// docker-archive read and write, with skopeo 1.9 as the independent peer both
// ways, hand-made `docker save` (legacy and Docker 25+) archives, and the
// reference face (ls, tag, delete).
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import { describe, it } from "node:test";
import { Digest } from "../../../src/oci/digest.js";
import { parseManifest, type ImageManifest } from "../../../src/oci/manifest.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import type { DockerArchiveLocation } from "../../../src/ref/location.js";
import { parseReference } from "../../../src/ref/reference.js";
import {
  openDockerArchiveDestination,
  openDockerArchiveReferences,
  openDockerArchiveSource,
} from "../../../src/transport/archive/index.js";
import { TarIndex } from "../../../src/transport/archive/tar-index.js";
import type { ImageSource } from "../../../src/transport/types.js";
import { buildImage, buildIndex, writeOciLayout, type BuiltImage } from "../../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { streamToBuffer } from "../layout/util.js";
import { code, listing, putUncompressed, rawTar, type RawTarEntry } from "./support.js";

function dloc(path: string, ref?: string): DockerArchiveLocation {
  return ref === undefined ? { transport: "docker-archive", path } : { transport: "docker-archive", path, ref: parseReference(ref) };
}

async function manifestJson(file: string): Promise<Array<{ Config: string; RepoTags: string[]; Layers: string[] }>> {
  const tar = await TarIndex.open(file);
  return JSON.parse((await tar.readBytes(tar.resolveFile("manifest.json", "m", false), 1 << 20, "m")).toString()) as Array<{
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }>;
}

/** The generated manifest of `src`, checked against the fixture: config bytes, one layer per diff_id, each verified. */
async function assertServesImage(src: ImageSource, img: BuiltImage, layerForm: "tar" | "gzip"): Promise<ImageManifest> {
  const raw = await src.getManifest();
  assert.equal(raw.mediaType, MediaType.DockerManifest);
  assert.ok(Digest.of(raw.bytes).equals(raw.digest));
  const m = parseManifest(raw.bytes) as ImageManifest;
  assert.ok(m.config.digest.equals(img.config.digest));
  assert.deepEqual(await streamToBuffer(await src.getBlob(m.config)), img.config.bytes);
  assert.equal(m.layers.length, img.layers.length);
  for (const [i, d] of m.layers.entries()) {
    const l = img.layers[i]!;
    const expected = layerForm === "tar" ? l.tar : l.bytes;
    assert.equal(d.mediaType, layerForm === "tar" ? MediaType.DockerLayer : MediaType.DockerLayerGzip);
    assert.ok(d.digest.equals(Digest.of(expected)));
    assert.equal(d.size, expected.length);
    assert.deepEqual(await streamToBuffer(await src.getBlob(d)), expected);
  }
  return m;
}

/** A `docker save` archive of the pre-25 kind, made by hand: `<id>/layer.tar` (as given), `<hex>.json`, manifest.json, repositories. */
async function legacyArchive(img: BuiltImage, repoTags: string[], form: "tar" | "gzip", extra: RawTarEntry[] = []): Promise<Buffer> {
  const entries: RawTarEntry[] = [{ name: `${img.config.digest.hex}.json`, content: img.config.bytes }];
  const layers: string[] = [];
  img.layers.forEach((l, i) => {
    const id = Digest.of(`legacy ${i} ${l.diffId}`).hex;
    entries.push({ name: `${id}/`, type: "directory" }, { name: `${id}/VERSION`, content: "1.0" }, { name: `${id}/json`, content: `{"id":"${id}"}` });
    entries.push({ name: `${id}/layer.tar`, content: form === "tar" ? l.tar : l.bytes });
    layers.push(`${id}/layer.tar`);
  });
  entries.push(...extra);
  entries.push({ name: "manifest.json", content: JSON.stringify([{ Config: `${img.config.digest.hex}.json`, RepoTags: repoTags, Layers: layers }]) });
  return rawTar(entries);
}

/** A Docker 25+ archive by hand: an OCI layout (blobs/sha256, index.json, oci-layout) plus manifest.json pointing into blobs/. */
async function docker25Archive(img: BuiltImage, repoTag: string): Promise<Buffer> {
  const blob = (d: Digest, content: Buffer): RawTarEntry => ({ name: d.blobPath, content });
  const entries: RawTarEntry[] = [
    { name: "blobs/", type: "directory" },
    { name: "blobs/sha256/", type: "directory" },
    blob(img.config.digest, img.config.bytes),
    ...img.layers.map((l) => blob(l.diffId, l.tar)),
    blob(img.manifest.digest, img.manifest.bytes),
    { name: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
    {
      name: "index.json",
      content: JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: img.manifest.mediaType,
            digest: img.manifest.digest.toString(),
            size: img.manifest.bytes.length,
            annotations: { "io.containerd.image.name": `docker.io/library/${repoTag}`, "org.opencontainers.image.ref.name": repoTag.split(":")[1] },
          },
        ],
      }),
    },
    {
      name: "manifest.json",
      content: JSON.stringify([{ Config: img.config.digest.blobPath, RepoTags: [repoTag], Layers: img.layers.map((l) => l.diffId.blobPath) }]),
    },
  ];
  return rawTar(entries);
}

describe("docker-archive written by dray, read by skopeo", () => {
  it("single image: equal config digest and diff_ids, RepoTags and repositories in docker's form", async () => {
    const dir = makeTempDir();
    const file = join(dir, "img.tar");
    const img = await buildImage({ seed: "da-single", layerCount: 3 });
    const dest = await openDockerArchiveDestination(dloc(file, "localhost:5000/foo/bar:v1"), {});
    assert.deepEqual(dest.capabilities, {
      needsUncompressedLayers: true,
      acceptsIndex: false,
      preservesDigests: false,
      supportsMount: false,
      concurrentPutBlob: true,
    });
    await putUncompressed(dest, img);
    await dest.commit();
    assert.deepEqual(await listing(dir), ["img.tar"]);

    const items = await manifestJson(file);
    assert.equal(items.length, 1);
    assert.deepEqual(items[0]!.RepoTags, ["localhost:5000/foo/bar:v1"]);
    assert.equal(items[0]!.Config, `${img.config.digest.hex}.json`);
    const tar = await TarIndex.open(file);
    for (const p of items[0]!.Layers) {
      assert.match(p, /^[a-f0-9]{64}\/layer\.tar$/);
      const folder = p.split("/")[0]!;
      assert.ok(tar.has(`${folder}/VERSION`) && tar.has(`${folder}/json`));
    }
    const repositories = JSON.parse((await tar.readBytes(tar.resolveFile("repositories", "r", false), 4096, "r")).toString()) as Record<string, Record<string, string>>;
    assert.deepEqual(repositories, { "localhost:5000/foo/bar": { v1: items[0]!.Layers.at(-1)!.split("/")[0]! } });

    const raw = parseManifest(await skopeoInspectRaw(`docker-archive:${file}`)) as ImageManifest;
    assert.ok(raw.config.digest.equals(img.config.digest));
    assert.deepEqual(raw.layers.map((l) => l.digest.toString()), img.layers.map((l) => l.diffId.toString()));
    const info = await skopeoInspect(`docker-archive:${file}:localhost:5000/foo/bar:v1`);
    assert.deepEqual(info.RepoTags, []); // skopeo lists registry tags only for docker://
    const out = join(dir, "copy");
    assertSkopeoOk(await skopeoCopy(`docker-archive:${file}`, `oci:${out}:x`));
    assert.deepEqual(await readFile(join(out, img.config.digest.blobPath)), img.config.bytes);
    // skopeo compresses layers for an OCI layout: what they inflate to must be our layer tars.
    const top = (JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }).manifests[0]!;
    const copied = parseManifest(await readFile(join(out, Digest.parse(top.digest).blobPath))) as ImageManifest;
    assert.ok(copied.config.digest.equals(img.config.digest));
    const inflated = await Promise.all(copied.layers.map(async (d) => Digest.of(gunzipSync(await readFile(join(out, d.digest.blobPath)))).toString()));
    assert.deepEqual(inflated, img.layers.map((l) => l.diffId.toString()));
  });

  it("several tags for one image, and a second image, each selectable by skopeo", async () => {
    const dir = makeTempDir();
    const file = join(dir, "tags.tar");
    const a = await buildImage({ seed: "da-tags-a" });
    const b = await buildImage({ seed: "da-tags-b", layerCount: 2 });
    const dest = await openDockerArchiveDestination(dloc(file, "alpine:3"), {});
    await putUncompressed(dest, a, { isTop: true });
    await putUncompressed(dest, a, { tag: "latest", isTop: true });
    await putUncompressed(dest, b, { tag: "example.com/team/app:2", isTop: true });
    await dest.commit();
    const items = await manifestJson(file);
    assert.deepEqual(
      items.map((i) => i.RepoTags),
      [["alpine:3", "alpine:latest"], ["example.com/team/app:2"]],
    );
    for (const [ref, img] of [["alpine:latest", a], ["docker.io/library/alpine:3", a], ["example.com/team/app:2", b]] as const) {
      const m = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:${ref}`)) as ImageManifest;
      assert.ok(m.config.digest.equals(img.config.digest), ref);
    }
  });

  it("writes to standard output for `-`", async () => {
    const dir = makeTempDir();
    const file = join(dir, "piped.tar");
    const img = await buildImage({ seed: "da-stdout" });
    const stdout = new PassThrough();
    const saved = pipeline(stdout, createWriteStream(file));
    const dest = await openDockerArchiveDestination(dloc("-", "piped:1"), { stdout, tmpDir: dir });
    await putUncompressed(dest, img);
    await dest.commit();
    stdout.end();
    await saved;
    assert.deepEqual(await listing(dir), ["piped.tar"], "spool folder removed");
    const m = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:piped:1`)) as ImageManifest;
    assert.ok(m.config.digest.equals(img.config.digest));
  });

  it("refuses an index (one platform per image) and layers that are still gzip", async () => {
    const dir = makeTempDir();
    const idx = await buildIndex({ seed: "da-index", platforms: ["linux/amd64", "linux/arm64"] });
    const dest = await openDockerArchiveDestination(dloc(join(dir, "x.tar"), "x:1"), {});
    await assert.rejects(dest.putManifest(idx.manifest, { isTop: true }), code("E_UNSUPPORTED", /--platform/));
    const img = idx.images[0]!;
    await dest.putBlob(img.config, Readable.from([img.config.bytes]));
    const l = img.layers[0]!;
    await dest.putBlob({ mediaType: MediaType.DockerLayer, digest: l.diffId, size: -1 }, Readable.from([l.tar]));
    // The manifest as stored (gzip layers by compressed digest): the config's diff_ids are here, so it is accepted.
    await dest.putManifest(img.manifest, { isTop: true });
    const gz = await openDockerArchiveDestination(dloc(join(dir, "y.tar"), "y:1"), {});
    await gz.putBlob(img.config, Readable.from([img.config.bytes]));
    // A gzip stream put under the diff_id's name cannot pass the digest check.
    await assert.rejects(gz.putBlob({ mediaType: MediaType.DockerLayer, digest: l.diffId, size: -1 }, Readable.from([l.bytes])), code("E_DIGEST_MISMATCH"));
    await gz.abort();
    await dest.abort();
    assert.deepEqual(await listing(dir), []);
  });
});

describe("docker-archive written by others, read by dray", () => {
  it("skopeo's docker-archive: generated schema 2 manifest with verified layers", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "da-skopeo", layerCount: 2 });
    await writeOciLayout(join(dir, "layout"), img, "t");
    const file = join(dir, "sk.tar");
    assertSkopeoOk(await skopeoCopy(`oci:${join(dir, "layout")}:t`, `docker-archive:${file}:localhost:5000/sk/img:t`));
    const src = await openDockerArchiveSource(dloc(file, "localhost:5000/sk/img:t"), {});
    const first = (await src.getManifest()).bytes;
    await assertServesImage(src, img, "tar");
    await src.close();
    // Deterministic: a second open generates the same bytes.
    const again = await openDockerArchiveSource(dloc(file), {});
    assert.deepEqual((await again.getManifest()).bytes, first);
    await again.close();
    await assert.rejects(openDockerArchiveSource(dloc(file, "localhost:5000/sk/img:other"), {}), code("E_NOT_FOUND", /sk\/img:t/));
  });

  it("skopeo's docker-archive from standard input", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "da-stdin" });
    await writeOciLayout(join(dir, "layout"), img, "t");
    const file = join(dir, "sk.tar");
    assertSkopeoOk(await skopeoCopy(`oci:${join(dir, "layout")}:t`, `docker-archive:${file}:in:1`));
    const src = await openDockerArchiveSource(dloc("-"), { stdin: Readable.from([await readFile(file)]), tmpDir: dir });
    await assertServesImage(src, img, "tar");
    await src.close();
    assert.deepEqual(await listing(dir), ["layout", "sk.tar"]);
  });

  it("legacy docker save with gzip layers: tar.gzip descriptors, diff_ids checked while reading", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "da-legacy-gz", layerCount: 2 });
    const file = join(dir, "legacy.tar");
    await writeFile(file, await legacyArchive(img, ["legacy:gz"], "gzip"));
    const src = await openDockerArchiveSource(dloc(file, "legacy:gz"), {});
    await assertServesImage(src, img, "gzip");
    await src.close();
  });

  it("legacy docker save with uncompressed layers and a repeated layer linked by symlink", async () => {
    const dir = makeTempDir();
    const base = await buildImage({ seed: "da-legacy-tar" });
    // The same layer twice (docker writes the second as a symlink to the first folder).
    const img = await buildImage({ seed: "da-legacy-tar", baseLayers: base.layers, layerFiles: [] });
    const twice = { ...img, layers: [base.layers[0]!, base.layers[0]!] };
    const configDoc = { ...img.configDoc, rootfs: { type: "layers", diff_ids: [base.layers[0]!.diffId.toString(), base.layers[0]!.diffId.toString()] } };
    const configBytes = Buffer.from(JSON.stringify(configDoc));
    const config = { ...img.config, bytes: configBytes, digest: Digest.of(configBytes), size: configBytes.length };
    const l = base.layers[0]!;
    const entries: RawTarEntry[] = [
      { name: `${config.digest.hex}.json`, content: configBytes },
      { name: "aaaa/layer.tar", content: l.tar },
      { name: "bbbb/layer.tar", type: "symlink", linkname: "../aaaa/layer.tar" },
      { name: "manifest.json", content: JSON.stringify([{ Config: `${config.digest.hex}.json`, RepoTags: ["dup:1"], Layers: ["aaaa/layer.tar", "bbbb/layer.tar"] }]) },
    ];
    const file = join(dir, "dup.tar");
    await writeFile(file, await rawTar(entries));
    const src = await openDockerArchiveSource(dloc(file), {});
    await assertServesImage(src, { ...twice, config }, "tar");
    await src.close();
  });

  it("Docker 25+ archive (OCI layout inside): config and layers from blobs/sha256", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "da-25", layerCount: 2, format: "docker", compression: "none" });
    const file = join(dir, "d25.tar");
    await writeFile(file, await docker25Archive(img, "modern:25"));
    const src = await openDockerArchiveSource(dloc(file, "modern:25"), {});
    await assertServesImage(src, img, "tar");
    await src.close();
    // skopeo agrees on what the image is.
    const m = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:modern:25`)) as ImageManifest;
    assert.ok(m.config.digest.equals(img.config.digest));
  });
});

describe("docker-archive references", () => {
  it("lists, adds, deletes tags; deleting an image's last tag removes its files", async () => {
    const dir = makeTempDir();
    const file = join(dir, "refs.tar");
    const a = await buildImage({ seed: "da-ref-a" });
    const b = await buildImage({ seed: "da-ref-b", layerCount: 2 });
    const dest = await openDockerArchiveDestination(dloc(file, "app:a"), {});
    await putUncompressed(dest, a);
    await putUncompressed(dest, b, { tag: "app:b", isTop: true });
    await dest.commit();

    const refs = await openDockerArchiveReferences(dloc(file, "app:a"), {});
    assert.deepEqual(await refs.listTags(), ["app:a", "app:b"]);
    await refs.addTag("a2");
    await refs.addTag("other/name:x");
    assert.deepEqual(await refs.listTags(), ["app:a", "app:a2", "other/name:x", "app:b"]);
    const viaNew = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:other/name:x`)) as ImageManifest;
    assert.ok(viaNew.config.digest.equals(a.config.digest));

    // Removing one tag keeps the image.
    await (await openDockerArchiveReferences(dloc(file, "app:a2"), {})).deleteReference();
    assert.deepEqual(await refs.listTags(), ["app:a", "other/name:x", "app:b"]);

    // Removing b's only tag removes b, and its files.
    const before = await TarIndex.open(file);
    const bItem = (await manifestJson(file))[1]!;
    const del = await (await openDockerArchiveReferences(dloc(file, "app:b"), {})).deleteReference();
    assert.ok(del.blobsRemoved >= 3, `config and two layers, got ${del.blobsRemoved}`);
    const after = await TarIndex.open(file);
    assert.ok(before.has(bItem.Config) && !after.has(bItem.Config));
    for (const p of bItem.Layers) assert.equal(after.has(p), false, p);
    assert.deepEqual(await refs.listTags(), ["app:a", "other/name:x"]);
    const still = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:app:a`)) as ImageManifest;
    assert.ok(still.config.digest.equals(a.config.digest));
    assert.deepEqual(await listing(dir), ["refs.tar"]);
  });
});
