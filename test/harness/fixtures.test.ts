// The fixtures are the reference every other test relies on: prove them
// valid against the real registry and skopeo, not against dray.
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { extract } from "tar-stream";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { parseImageConfig, parseManifest } from "../../src/oci/manifest.js";
import { blobsOf, buildImage, buildIndex, pushImage, seededBytes, writeOciLayout, type BuiltLayer } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";

async function tarEntries(tar: Buffer): Promise<Map<string, { type: string; body: Buffer }>> {
  const out = new Map<string, { type: string; body: Buffer }>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.set(entry.header.name, { type: entry.header.type ?? "file", body: Buffer.concat(chunks) });
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

describe("fixtures: pure properties", () => {
  it("are deterministic by seed and differ across seeds", async () => {
    const a = await buildIndex({ seed: 7, format: "docker" });
    const b = await buildIndex({ seed: 7, format: "docker" });
    const c = await buildIndex({ seed: 8, format: "docker" });
    assert.equal(a.manifest.digest.toString(), b.manifest.digest.toString());
    assert.ok(a.manifest.bytes.equals(b.manifest.bytes));
    assert.notEqual(a.manifest.digest.toString(), c.manifest.digest.toString());
  });

  it("have digests, sizes and diffIDs that match the bytes", async () => {
    const img = await buildImage({ seed: "digests", layerCount: 3, format: "docker" });
    assert.equal(img.layers.length, 3);
    const parsed = parseManifest(img.manifest.bytes, img.manifest.mediaType);
    assert.equal(parsed.kind, "manifest");
    if (parsed.kind !== "manifest") return;
    assert.equal(parsed.mediaType, MediaType.DockerManifest);
    assert.equal(parsed.config.digest.toString(), Digest.of(img.config.bytes).toString());
    assert.equal(parsed.config.size, img.config.bytes.length);
    const config = parseImageConfig(img.config.bytes);
    img.layers.forEach((layer, i) => {
      assert.equal(parsed.layers[i]!.digest.toString(), Digest.of(layer.bytes).toString());
      assert.equal(parsed.layers[i]!.size, layer.bytes.length);
      assert.equal(parsed.layers[i]!.mediaType, MediaType.DockerLayerGzip);
      assert.equal(Digest.of(gunzipSync(layer.bytes)).toString(), config.rootfs!.diff_ids[i]);
    });
    assert.equal(Digest.of(img.manifest.bytes).toString(), img.manifest.digest.toString());
  });

  it("layers hold real files: folders, text, binary, symlink", async () => {
    const img = await buildImage({ seed: "files" });
    const entries = await tarEntries(gunzipSync(img.layers[0]!.bytes));
    assert.equal(entries.get("layer0/")?.type, "directory");
    assert.match(entries.get("layer0/hello.txt")!.body.toString(), /^hello from layer 0/);
    assert.equal(entries.get("layer0/bin/tool")!.body.length, 512);
    assert.equal(entries.get("layer0/link")?.type, "symlink");
  });

  it("uncompressed layers: digest equals diffID, media type says tar", async () => {
    const img = await buildImage({ seed: "plain-tar", compression: "none", format: "oci", annotations: { "org.example": "x" } });
    const layer = img.layers[0]!;
    assert.equal(layer.mediaType, MediaType.OciLayer);
    assert.equal(layer.digest.toString(), layer.diffId.toString());
    const parsed = parseManifest(img.manifest.bytes, MediaType.OciManifest);
    assert.deepEqual(parsed.annotations, { "org.example": "x" });
  });

  it("layerSize adds incompressible data", async () => {
    const img = await buildImage({ seed: "big", layerSize: 256 * 1024 });
    assert.ok(img.layers[0]!.size > 256 * 1024, `gzip of random data stays large (${img.layers[0]!.size})`);
    assert.equal(seededBytes("x", 1000).length, 1000);
    assert.ok(seededBytes("x", 64).equals(seededBytes("x", 64)));
    assert.ok(!seededBytes("x", 64).equals(seededBytes("y", 64)));
  });

  it("multi-platform builds carry platforms, and sharedBaseLayer shares the first layer", async () => {
    const idx = await buildIndex({ format: "oci", sharedBaseLayer: true });
    const parsed = parseManifest(idx.manifest.bytes, MediaType.OciIndex);
    assert.equal(parsed.kind, "index");
    if (parsed.kind !== "index") return;
    assert.deepEqual(
      parsed.manifests.map((m) => [m.platform?.os, m.platform?.architecture, m.platform?.variant]),
      [
        ["linux", "amd64", undefined],
        ["linux", "arm64", "v8"],
        ["linux", "arm", "v7"],
      ],
    );
    const firsts = new Set(idx.images.map((i) => i.layers[0]!.digest.toString()));
    assert.equal(firsts.size, 1);
    const seconds = new Set(idx.images.map((i) => (i.layers[1] as BuiltLayer).digest.toString()));
    assert.equal(seconds.size, 3);
    // shared blobs are listed once
    assert.equal(blobsOf(idx).length, 1 + 3 + 3);
  });
});

describe("fixtures against the real registry and skopeo", () => {
  let registry: RegistryHandle;
  before(async () => {
    requireTool("skopeo");
    registry = await startRegistry();
  });
  after(async () => registry?.stop());

  for (const format of ["docker", "oci"] as const) {
    it(`${format} index: pushImage, then skopeo inspect --raw is byte-identical and copy --all to oci: works`, async () => {
      const idx = await buildIndex({ format, seed: `push-${format}`, layerCount: 2, manifestIndent: 3 });
      const repo = `fixtures/${format}-index`;
      const digest = await pushImage(registry, repo, "v1", idx);
      assert.equal(digest.toString(), idx.manifest.digest.toString());
      const raw = await skopeoInspectRaw(`docker://${registry.host}/${repo}:v1`);
      assert.ok(raw.equals(idx.manifest.bytes), "index bytes are preserved");
      for (const img of idx.images) {
        const child = await skopeoInspectRaw(`docker://${registry.host}/${repo}@${img.manifest.digest}`);
        assert.ok(child.equals(img.manifest.bytes), `child ${img.platform.architecture} bytes are preserved`);
      }
      // skopeo's oci: destination converts a Docker list to OCI (new digests), so preserve digests only for OCI.
      const dir = makeTempDir();
      const extra = format === "oci" ? ["--all", "--preserve-digests"] : ["--all"];
      assertSkopeoOk(await skopeoCopy(`docker://${registry.host}/${repo}:v1`, `oci:${join(dir, "out")}:v1`, extra));
      const index = JSON.parse(await readFile(join(dir, "out", "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
      if (format === "oci") assert.equal(index.manifests[0]!.digest, idx.manifest.digest.toString());
      const blobs = new Set(await readdir(join(dir, "out", "blobs", "sha256")));
      // Layers are copied as they are (skopeo verified their digests on the way); configs may be rewritten.
      for (const img of idx.images) for (const l of img.layers) assert.ok(blobs.has(l.digest.hex), `layer ${l.digest.short} copied`);
      if (format === "oci") for (const b of blobsOf(idx)) assert.ok(blobs.has(b.digest.hex), `blob ${b.digest.short} copied`);
    });
  }

  it("single image: skopeo inspect reads config fields", async () => {
    const img = await buildImage({ format: "docker", seed: "single", platform: "linux/arm64/v8", labels: { a: "b" } });
    await pushImage(registry, "fixtures/single", "latest", img);
    const info = await skopeoInspect(`docker://${registry.host}/fixtures/single:latest`);
    assert.equal(info.Architecture, "arm64");
    // skopeo 1.9's summary has no Variant field: read it from the config.
    const config = await skopeoInspect(`docker://${registry.host}/fixtures/single:latest`, { config: true });
    assert.equal(config.variant, "v8");
    assert.equal((info.Labels as Record<string, string>).a, "b");
    assert.deepEqual(
      info.Layers,
      img.layers.map((l) => l.digest.toString()),
    );
    const client = new TestRegistryClient(registry);
    const blob = await client.getBlob("fixtures/single", img.layers[0]!.digest.toString());
    await client.close();
    assert.ok(blob.body.equals(img.layers[0]!.bytes));
  });

  it("writeOciLayout output is read by skopeo and copies to the registry", async () => {
    const dir = join(makeTempDir(), "layout");
    const idx = await buildIndex({ format: "oci", seed: "layout" });
    const single = await buildImage({ format: "oci", seed: "layout-single" });
    await writeOciLayout(dir, idx, "multi");
    await writeOciLayout(dir, single, "one");
    const raw = await skopeoInspectRaw(`oci:${dir}:multi`);
    assert.ok(raw.equals(idx.manifest.bytes));
    assertSkopeoOk(await skopeoCopy(`oci:${dir}:one`, `docker://${registry.host}/fixtures/from-layout:one`, ["--preserve-digests"]));
    const back = await skopeoInspectRaw(`docker://${registry.host}/fixtures/from-layout:one`);
    assert.ok(back.equals(single.manifest.bytes));
  });
});
