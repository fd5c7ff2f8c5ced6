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
import { parseManifest, rawManifestFromDocument, type ImageManifest } from "../../../src/oci/manifest.js";
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
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { streamToBuffer } from "../layout/util.js";
import { code, listing, putImage, rawTar, type RawTarEntry } from "./support.js";

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
    entries.push(
      { name: `${id}/`, type: "directory" },
      { name: `${id}/VERSION`, content: "1.0" },
      { name: `${id}/json`, content: `{"id":"${id}"}` },
    );
    entries.push({ name: `${id}/layer.tar`, content: form === "tar" ? l.tar : l.bytes });
    layers.push(`${id}/layer.tar`);
  });
  entries.push(...extra);
  entries.push({
    name: "manifest.json",
    content: JSON.stringify([{ Config: `${img.config.digest.hex}.json`, RepoTags: repoTags, Layers: layers }]),
  });
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
            annotations: {
              "io.containerd.image.name": `docker.io/library/${repoTag}`,
              "org.opencontainers.image.ref.name": repoTag.split(":")[1],
            },
          },
        ],
      }),
    },
    {
      name: "manifest.json",
      content: JSON.stringify([
        { Config: img.config.digest.blobPath, RepoTags: [repoTag], Layers: img.layers.map((l) => l.diffId.blobPath) },
      ]),
    },
  ];
  return rawTar(entries);
}

async function indexJson(file: string): Promise<Array<{ digest: string; annotations?: Record<string, string> }>> {
  const tar = await TarIndex.open(file);
  const doc = JSON.parse((await tar.readBytes(tar.resolveFile("index.json", "i", false), 1 << 20, "i")).toString()) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  return doc.manifests;
}

describe("docker-archive written by dray (the dual form), read by skopeo", () => {
  it("single image: OCI layout with the manifest byte for byte, manifest.json and repositories for docker load", async () => {
    const dir = makeTempDir();
    const file = join(dir, "img.tar");
    const img = await buildImage({ seed: "da-single", layerCount: 3 });
    const dest = await openDockerArchiveDestination(dloc(file, "localhost:5000/foo/bar:v1"), {});
    assert.deepEqual(dest.capabilities, {
      needsUncompressedLayers: false,
      acceptsIndex: false,
      preservesDigests: true,
      supportsMount: false,
      concurrentPutBlob: true,
      layerCompressions: ["gzip", "none"],
    });
    await putImage(dest, img);
    await dest.commit();
    assert.deepEqual(await listing(dir), ["img.tar"]);

    const items = await manifestJson(file);
    assert.deepEqual(items, [
      { Config: img.config.digest.blobPath, RepoTags: ["localhost:5000/foo/bar:v1"], Layers: img.layers.map((l) => l.digest.blobPath) },
    ]);
    const tar = await TarIndex.open(file);
    assert.ok(tar.has("oci-layout") && tar.has(img.manifest.digest.blobPath));
    const repositories = JSON.parse((await tar.readBytes(tar.resolveFile("repositories", "r", false), 4096, "r")).toString()) as Record<
      string,
      Record<string, string>
    >;
    assert.deepEqual(repositories, { "localhost:5000/foo/bar": { v1: img.layers.at(-1)!.digest.hex } });
    // index.json names the image as Docker 25+ does (moby daemon/internal/image/tarexport/save.go).
    assert.deepEqual(await indexJson(file), [
      {
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest.toString(),
        size: img.manifest.bytes.length,
        annotations: { "io.containerd.image.name": "localhost:5000/foo/bar:v1", "org.opencontainers.image.ref.name": "v1" },
      },
    ]);

    // skopeo reads it both ways: as an oci-archive (the digest kept) and as a docker-archive (gzip layers inflated to the diff_ids).
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:v1`), img.manifest.bytes);
    const raw = parseManifest(await skopeoInspectRaw(`docker-archive:${file}`)) as ImageManifest;
    assert.ok(raw.config.digest.equals(img.config.digest));
    const out = join(dir, "copy");
    assertSkopeoOk(await skopeoCopy(`docker-archive:${file}:localhost:5000/foo/bar:v1`, `oci:${out}:x`));
    const top = (JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }).manifests[0]!;
    const copied = parseManifest(await readFile(join(out, Digest.parse(top.digest).blobPath))) as ImageManifest;
    const inflated = await Promise.all(
      copied.layers.map(async (d) => Digest.of(gunzipSync(await readFile(join(out, d.digest.blobPath)))).toString()),
    );
    assert.deepEqual(
      inflated,
      img.layers.map((l) => l.diffId.toString()),
    );

    // dray reads its own archive through index.json: the same digest.
    const src = await openDockerArchiveSource(dloc(file), {});
    assert.ok((await src.getManifest()).digest.equals(img.manifest.digest));
    assert.equal(src.generatedManifest, false);
    await src.close();
  });

  it("several tags for one image, and a second image, each selectable by skopeo", async () => {
    const dir = makeTempDir();
    const file = join(dir, "tags.tar");
    const a = await buildImage({ seed: "da-tags-a" });
    const b = await buildImage({ seed: "da-tags-b", layerCount: 2 });
    const dest = await openDockerArchiveDestination(dloc(file, "alpine:3"), {});
    await putImage(dest, a, { isTop: true });
    await putImage(dest, a, { tag: "latest", isTop: true });
    await putImage(dest, b, { tag: "example.com/team/app:2", isTop: true });
    await dest.commit();
    const items = await manifestJson(file);
    assert.deepEqual(
      items.map((i) => i.RepoTags),
      [["alpine:3", "alpine:latest"], ["example.com/team/app:2"]],
    );
    for (const [ref, img] of [
      ["alpine:latest", a],
      ["docker.io/library/alpine:3", a],
      ["example.com/team/app:2", b],
    ] as const) {
      const m = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:${ref}`)) as ImageManifest;
      assert.ok(m.config.digest.equals(img.config.digest), ref);
    }
  });

  it("repeated copies into one archive keep every earlier image; a tag given again moves and the image left without one goes", async () => {
    const dir = makeTempDir();
    const file = join(dir, "many.tar");
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((s) => buildImage({ seed: `da-many-${s}`, layerCount: 2 })));
    for (const [img, ref] of [
      [a!, "app:a"],
      [b!, "app:b"],
      [c!, "app:a"],
    ] as const) {
      const dest = await openDockerArchiveDestination(dloc(file, ref), {});
      await putImage(dest, img);
      await dest.commit();
    }
    assert.deepEqual(
      (await manifestJson(file)).map((i) => i.RepoTags),
      [["app:b"], ["app:a"]],
    );
    const tar = await TarIndex.open(file);
    for (const l of a!.layers) assert.equal(tar.has(l.digest.blobPath), false, "a's files are gone with its last tag");
    assert.equal(tar.has(a!.manifest.digest.blobPath), false);
    for (const [ref, img] of [
      ["app:b", b!],
      ["app:a", c!],
    ] as const) {
      const m = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:${ref}`)) as ImageManifest;
      assert.ok(m.config.digest.equals(img.config.digest), ref);
      assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:${ref.split(":")[1]}`), img.manifest.bytes);
    }
    assert.deepEqual(await listing(dir), ["many.tar"]);
  });

  it("writes to standard output for `-`", async () => {
    const dir = makeTempDir();
    const file = join(dir, "piped.tar");
    const img = await buildImage({ seed: "da-stdout" });
    const stdout = new PassThrough();
    const saved = pipeline(stdout, createWriteStream(file));
    const dest = await openDockerArchiveDestination(dloc("-", "piped:1"), { stdout, tmpDir: dir });
    await putImage(dest, img);
    await dest.commit();
    stdout.end();
    await saved;
    assert.deepEqual(await listing(dir), ["piped.tar"], "spool folder removed");
    const m = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:piped:1`)) as ImageManifest;
    assert.ok(m.config.digest.equals(img.config.digest));
  });

  it("refuses an index (one platform per image) and zstd layers (docker load before 2020 cannot inflate them)", async () => {
    const dir = makeTempDir();
    const idx = await buildIndex({ seed: "da-index", platforms: ["linux/amd64", "linux/arm64"] });
    const dest = await openDockerArchiveDestination(dloc(join(dir, "x.tar"), "x:1"), {});
    await assert.rejects(dest.putManifest(idx.manifest, { isTop: true }), code("E_UNSUPPORTED", /--platform/));
    const img = idx.images[0]!;
    await dest.putBlob(img.config, Readable.from([img.config.bytes]));
    const l = img.layers[0]!;
    await dest.putBlob({ ...l, mediaType: MediaType.OciLayerZstd }, Readable.from([l.bytes]));
    const doc = JSON.parse(img.manifest.bytes.toString()) as { layers: Array<{ mediaType: string }> };
    doc.layers[0]!.mediaType = MediaType.OciLayerZstd;
    const zstd = rawManifestFromDocument(doc, MediaType.OciManifest);
    await assert.rejects(dest.putManifest(zstd, { isTop: true }), code("E_UNSUPPORTED", /zstd/));
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
    const configDoc = {
      ...img.configDoc,
      rootfs: { type: "layers", diff_ids: [base.layers[0]!.diffId.toString(), base.layers[0]!.diffId.toString()] },
    };
    const configBytes = Buffer.from(JSON.stringify(configDoc));
    const config = { ...img.config, bytes: configBytes, digest: Digest.of(configBytes), size: configBytes.length };
    const l = base.layers[0]!;
    const entries: RawTarEntry[] = [
      { name: `${config.digest.hex}.json`, content: configBytes },
      { name: "aaaa/layer.tar", content: l.tar },
      { name: "bbbb/layer.tar", type: "symlink", linkname: "../aaaa/layer.tar" },
      {
        name: "manifest.json",
        content: JSON.stringify([
          { Config: `${config.digest.hex}.json`, RepoTags: ["dup:1"], Layers: ["aaaa/layer.tar", "bbbb/layer.tar"] },
        ]),
      },
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
    // Read through index.json: the image's own manifest, so its digest is the one it had.
    const raw = await src.getManifest();
    assert.deepEqual(raw.bytes, img.manifest.bytes);
    assert.ok(raw.digest.equals(img.manifest.digest));
    for (const d of [img.config, ...img.layers]) assert.deepEqual(await streamToBuffer(await src.getBlob(d)), d.bytes);
    await src.close();
    // The name only index.json carries selects it too.
    const byName = await openDockerArchiveSource(dloc(file, "docker.io/library/modern:25"), {});
    assert.ok((await byName.getManifest()).digest.equals(img.manifest.digest));
    await byName.close();
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
    await putImage(dest, a);
    await putImage(dest, b, { tag: "app:b", isTop: true });
    await dest.commit();

    const refs = await openDockerArchiveReferences(dloc(file, "app:a"), {});
    assert.deepEqual(await refs.listTags(), ["app:a", "app:b"]);
    await refs.addTag("a2");
    await refs.addTag("other/name:x");
    assert.deepEqual(await refs.listTags(), ["app:a", "app:a2", "app:b", "other/name:x"]);
    const viaNew = parseManifest(await skopeoInspectRaw(`docker-archive:${file}:other/name:x`)) as ImageManifest;
    assert.ok(viaNew.config.digest.equals(a.config.digest));

    // Removing one tag keeps the image.
    await (await openDockerArchiveReferences(dloc(file, "app:a2"), {})).deleteReference();
    assert.deepEqual(await refs.listTags(), ["app:a", "app:b", "other/name:x"]);

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
