// Issue 27 item 24: foreign layers (Windows base layers: a descriptor with
// `urls`, typed rootfs.foreign.diff.tar.gzip). go-containerregistry's own
// fixtures (pkg/v1/tarball/testdata/foreign.tar and sparse_foreign.tar, see
// test/peers/go-containerregistry/README.md) are `docker save` archives whose
// manifest.json names the foreign layer in LayerSources. What dray writes into
// a docker-archive carries LayerSources in the same shape, podman loads it, and
// a copy into a registry or an OCI layout keeps the layer foreign (its blob
// not copied), as skopeo does.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { TestRegistryClient } from "../helpers/http.js";
import { startPodman, type Podman } from "../helpers/podman.js";
import { startProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoCopy, assertSkopeoOk, skopeoInspect, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";

const TESTDATA = fileURLToPath(new URL("../../../test/peers/go-containerregistry/pkg/v1/tarball/testdata/", import.meta.url));
const FOREIGN = join(TESTDATA, "foreign.tar");
const SPARSE = join(TESTDATA, "sparse_foreign.tar");
/** The foreign layer of both fixtures, and the ordinary one. */
const FOREIGN_BLOB = "sha256:015b6ec6d1bc15e26c868d36ef75577c7a0405609ea9abc028b69204b56e7325";
const PLAIN_BLOB = "sha256:3d83ee5500c36466cd6df226a81512912dfdec4537e7fa7e6eab36f00f4548b6";

interface Item {
  RepoTags: string[];
  LayerSources?: Record<string, unknown>;
}

function manifestJson(tar: string): Item[] {
  return JSON.parse(execFileSync("tar", ["-xOf", tar, "manifest.json"], { encoding: "utf8" })) as Item[];
}

async function blobStatus(reg: RegistryHandle, repo: string, digest: string): Promise<number> {
  return (await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`, { method: "HEAD" })).status;
}

async function manifestLayers(reg: RegistryHandle, repo: string, tag: string): Promise<Array<{ digest: string; urls?: string[] }>> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { layers: Array<{ digest: string; urls?: string[] }> }).layers;
}

describe("foreign layers (go-containerregistry's foreign.tar)", () => {
  let a: RegistryHandle;
  let b: RegistryHandle;
  let c: RegistryHandle;
  let dir: string;
  let podman: Podman;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    isolateCredentials();
    dir = makeTempDir("dray-foreign-");
    [a, b, c] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    podman = startPodman();
  });
  after(async () => {
    await podman.remove();
  });

  it("reads LayerSources: the layer is described as docker save recorded it", async () => {
    for (const fixture of [FOREIGN, SPARSE]) {
      const r = await dray(["inspect", "--raw", `docker-archive:${fixture}`]);
      assert.equal(r.code, 0, r.stderr);
      const layers = (JSON.parse(r.stdout) as { layers: Array<{ mediaType: string; digest: string; size: number; urls?: string[] }> })
        .layers;
      assert.deepEqual(layers[1], {
        mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        digest: FOREIGN_BLOB,
        size: 701,
        urls: ["example.com"],
      });
    }
  });

  it("writes LayerSources into a docker-archive in docker save's shape, and podman loads it", async () => {
    const out = join(dir, "out.tar");
    const r = await dray(["copy", `docker-archive:${FOREIGN}`, `docker-archive:${out}:gcr.io/foo/bar:latest`]);
    assert.equal(r.code, 0, r.stderr);
    const [written] = manifestJson(out);
    const [theirs] = manifestJson(FOREIGN);
    assert.deepEqual(written!.LayerSources, theirs!.LayerSources);
    assert.equal(JSON.stringify(written!.LayerSources), JSON.stringify(theirs!.LayerSources), "same key order as docker save");
    // Again from what dray wrote (read through its OCI layout now): the entry survives.
    const again = join(dir, "again.tar");
    assert.equal((await dray(["copy", `docker-archive:${out}`, `docker-archive:${again}:gcr.io/foo/bar:latest`])).code, 0);
    assert.deepEqual(manifestJson(again)[0]!.LayerSources, theirs!.LayerSources);
    // skopeo reads the file dray wrote (containers/image reads manifest.json and ignores LayerSources), and its OCI view keeps the urls.
    const viaSkopeo = JSON.parse((await skopeoInspectRaw(`oci-archive:${out}`)).toString()) as { layers: Array<{ urls?: string[] }> };
    assert.deepEqual(viaSkopeo.layers[1]!.urls, ["example.com"]);
    assert.equal((await skopeoInspect(`docker-archive:${out}`)).Layers instanceof Array, true);
    assert.match(await podman.run(["load", "-i", out]), /Loaded image.*gcr\.io\/foo\/bar:latest/);
    assert.equal((await podman.inspect("gcr.io/foo/bar:latest")).Id.slice(0, 12), "53029f61be64");
  });

  it("keeps the layer foreign in a registry and an OCI layout, as skopeo does", async () => {
    // The fixture's image with an https URL on its foreign layer, in a registry that holds that blob too
    // (as one pushed with crane --allow-nondistributable-artifacts does). distribution refuses the
    // fixture's own URL, "example.com", which has no scheme.
    const [item] = JSON.parse(execFileSync("tar", ["-xOf", FOREIGN, "manifest.json"], { encoding: "utf8" })) as Array<{
      Config: string;
      Layers: string[];
    }>;
    const read = (name: string): Buffer => execFileSync("tar", ["-xOf", FOREIGN, name]);
    const config = read(item!.Config);
    const [plain, foreign] = item!.Layers.map(read);
    const url = `https://foreign.invalid/v2/windows/servercore/blobs/${FOREIGN_BLOB}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: item!.Config },
        layers: [
          { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: plain!.length, digest: PLAIN_BLOB },
          {
            mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            size: foreign!.length,
            digest: FOREIGN_BLOB,
            urls: [url],
          },
        ],
      }),
    );
    const client = new TestRegistryClient(a);
    try {
      await client.pushBlob("win", item!.Config, config);
      await client.pushBlob("win", PLAIN_BLOB, plain!);
      await client.pushBlob("win", FOREIGN_BLOB, foreign!);
      await client.putManifest("win", "1", "application/vnd.docker.distribution.manifest.v2+json", manifest);
    } finally {
      await client.close();
    }

    // Registry to registry: dray and skopeo leave the same blob behind.
    const r = await dray(["copy", `docker://${a.host}/win:1`, `docker://${b.host}/win:1`]);
    assert.equal(r.code, 0, r.stderr);
    assertSkopeoOk(await skopeoCopy(`docker://${a.host}/win:1`, `docker://${c.host}/win:1`));
    for (const reg of [b, c]) {
      assert.equal(await blobStatus(reg, "win", PLAIN_BLOB), 200);
      assert.equal(await blobStatus(reg, "win", FOREIGN_BLOB), 404, "the foreign blob stays at its URLs");
      assert.deepEqual((await manifestLayers(reg, "win", "1"))[1]!.urls, [url]);
    }

    // A conversion leaves a kept-foreign layer as it is (skopeo skips it before any conversion): not fetched, not recompressed.
    const z = await dray(["copy", "--compress", "zstd", `docker://${a.host}/win:1`, `docker://${b.host}/win:zstd`]);
    assert.equal(z.code, 0, z.stderr);
    const zLayers = await manifestLayers(b, "win", "zstd");
    assert.equal(zLayers[1]!.digest, FOREIGN_BLOB);
    assert.deepEqual(zLayers[1]!.urls, [url]);
    assert.notEqual(zLayers[0]!.digest, PLAIN_BLOB, "the other layer was recompressed");

    // Into an OCI layout: no file for the foreign blob, by dray as by skopeo.
    const ours = join(dir, "layout-dray");
    const theirs = join(dir, "layout-skopeo");
    const copied = await dray(["copy", `docker://${a.host}/win:1`, `oci:${ours}:1`]);
    assert.equal(copied.code, 0, copied.stderr);
    assertSkopeoOk(await skopeoCopy(`docker://${a.host}/win:1`, `oci:${theirs}:1`));
    const file = (root: string, digest: string): string => join(root, "blobs", ...digest.split(":"));
    for (const root of [ours, theirs]) {
      assert.ok(existsSync(file(root, PLAIN_BLOB)), root);
      assert.ok(!existsSync(file(root, FOREIGN_BLOB)), root);
    }

    // Into a docker-archive the blob is needed (docker load reads every layer): taken from the registry, named in LayerSources.
    const out = join(dir, "from-registry.tar");
    const saved = await dray(["copy", `docker://${a.host}/win:1`, `docker-archive:${out}:win:1`]);
    assert.equal(saved.code, 0, saved.stderr);
    const sources = manifestJson(out)[0]!.LayerSources as Record<string, { digest: string; urls: string[] }>;
    assert.deepEqual(
      Object.values(sources).map((s) => [s.digest, s.urls]),
      [[FOREIGN_BLOB, [url]]],
    );
  });

  it("a sparse archive (the foreign layer left out): a docker-archive destination says where the layer lives", async () => {
    const out = join(dir, "sparse-out.tar");
    const d = await dray(["copy", `docker-archive:${SPARSE}`, `docker-archive:${out}:gcr.io/foo/bar:latest`]);
    assert.equal(d.code, 3, d.stderr);
    assert.match(d.stderr, /blob sha256:015b6ec6\S* not found in .*sparse_foreign\.tar \(a foreign layer: it lives at example\.com\)/);
    assert.ok(!existsSync(out));
  });

  it("the fixture's URL (example.com, no scheme) is refused by distribution whatever its config: one line saying so, asked once", async () => {
    // distribution checks a foreign layer's URL for an http(s) scheme before its allow and deny patterns: the
    // test's usual registry (validation disabled) and a default install (validation on) both refuse it
    // (500: UNKNOWN "invalid URL on layer", then MANIFEST_BLOB_UNKNOWN for the layer). Allowing URLs cannot help.
    const strict = await startRegistry({ validation: {} });
    for (const reg of [a, strict]) {
      const proxy = await startProxy(reg);
      const r = await dray(["copy", `docker-archive:${FOREIGN}`, `docker://${proxy.host}/win:1`]);
      assert.equal(r.code, 5, r.stderr);
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("dray: "));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0]!,
        /refused manifest sha256:\S+ at docker:\/\/\S+\/win:1 for its foreign layer sha256:015b6ec6\S* \(urls: example\.com\)/,
      );
      assert.match(lines[0]!, /example\.com is not an http:\/\/ or https:\/\/ URL .*whatever its configuration: copy into an oci: layout/);
      assert.doesNotMatch(lines[0]!, /urls\.allow|retries/);
      assert.equal(proxy.count("PUT", "/manifests/"), 1, "a refusal is not asked again");
    }
  });

  it("an https URL that distribution's default validation refuses: the advice is to allow it, and allowed it goes in", async () => {
    const strict = await startRegistry({ validation: {} });
    // Allowed by the registry's config (and an https URL, which distribution requires): the same image goes in.
    const allowing = await startRegistry({ validation: { allow: ["^https://"] } });
    const layout = join(dir, "https-url");
    assert.equal((await dray(["copy", `docker-archive:${FOREIGN}`, `oci:${layout}:1`])).code, 0);
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    const manifestFile = join(layout, "blobs", ...index.manifests[0]!.digest.split(":"));
    const edited = readFileSync(manifestFile, "utf8").replace(
      /"urls":\s*\[\s*"example\.com"\s*\]/,
      '"urls":["https://foreign.invalid/layer"]',
    );
    assert.match(edited, /foreign\.invalid/);
    const editedDigest = `sha256:${createHash("sha256").update(edited).digest("hex")}`;
    writeFileSync(join(layout, "blobs", ...editedDigest.split(":")), edited);
    const size = Buffer.byteLength(edited);
    writeFileSync(
      join(layout, "index.json"),
      JSON.stringify({ ...index, manifests: [{ ...index.manifests[0], digest: editedDigest, size }] }),
    );
    const refused = await dray(["copy", `oci:${layout}:1`, `docker://${strict.host}/win:1`]);
    assert.equal(refused.code, 5, refused.stderr);
    assert.match(
      refused.stderr,
      /\(urls: https:\/\/foreign\.invalid\/layer\).*: allow those URLs in the registry \(distribution: validation\.manifests\.urls\.allow\)/,
    );
    const ok = await dray(["copy", `oci:${layout}:1`, `docker://${allowing.host}/win:1`]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
