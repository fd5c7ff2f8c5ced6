// Formats through the real copy engine: digests kept where they must be
// (registry → docker-archive → registry, Docker 25+ archives), OCI media
// types where no digest can be kept (a pre-25 docker save source into an OCI
// layout), and --manifest-format conversion; every result read back by
// skopeo, and by umoci where it is an OCI layout of gzip layers.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { copy } from "../../src/copy/index.js";
import type { CopyEvent } from "../../src/copy/types.js";
import { Digest } from "../../src/oci/digest.js";
import { parseManifest, type ImageIndex, type ImageManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { buildImage, buildIndex, pushImage, writeOciLayout } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";

function notices(into: string[]): (e: CopyEvent) => void {
  return (e) => {
    if (e.type === "notice") into.push(e.message);
  };
}

/** umoci unpacks an OCI layout image (gzip layers only) without root. */
function assertUmociUnpacks(layout: string, tag: string, dir: string): void {
  const r = spawnSync("umoci", ["unpack", "--rootless", "--image", `${layout}:${tag}`, join(dir, `bundle-${tag}`)], { encoding: "utf8" });
  assert.equal(r.status, 0, `umoci unpack: ${r.stderr}`);
}

describe("formats through the copy engine", () => {
  let registry: RegistryHandle;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry.stop();
  });

  it("registry → docker-archive → registry keeps the digest (Docker format image), and the archive is also an oci-archive", async () => {
    const img = await buildImage({ seed: "fmt-air", format: "docker", layerCount: 2 });
    await pushImage({ url: registry.url }, "air/src", "v1", img);
    const dir = makeTempDir();
    const file = join(dir, "air.tar");
    const out = await copy(`docker://${registry.host}/air/src:v1`, `docker-archive:${file}:air/src:v1`);
    assert.equal(out.digest, img.manifest.digest.toString());
    const back = await copy(`docker-archive:${file}`, `docker://${registry.host}/air/back:v1`);
    assert.equal(back.digest, img.manifest.digest.toString());
    assert.deepEqual(await skopeoInspectRaw(`docker://${registry.host}/air/back:v1`), img.manifest.bytes);
    // skopeo's docker-archive reading inflates the gzip layers to the config's diff_ids.
    const seen = parseManifest(await skopeoInspectRaw(`docker-archive:${file}`)) as ImageManifest;
    assert.ok(seen.config.digest.equals(img.config.digest));
  });

  it("a pre-25 docker save archive into oci: and oci-archive: is written with OCI media types that skopeo and umoci open", async () => {
    const img = await buildImage({ seed: "fmt-legacy", format: "docker", layerCount: 2 });
    const dir = makeTempDir();
    await pushImage({ url: registry.url }, "legacy/src", "v1", img);
    const legacy = join(dir, "legacy.tar");
    // skopeo writes the pre-25 form (no index.json): dray has to make a manifest up.
    assertSkopeoOk(
      await skopeoCopy(`docker://${registry.host}/legacy/src:v1`, `docker-archive:${legacy}:old/img:1`, ["--src-tls-verify=false"]),
    );
    const said: string[] = [];
    const layout = join(dir, "layout");
    const r = await copy(`docker-archive:${legacy}`, `oci:${layout}:v1`, { onProgress: notices(said) });
    assert.equal(r.mediaType, MediaType.OciManifest);
    // One note, naming both digests: "resolved" showed the manifest dray made up, the stored one differs (issue 28 item 13).
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(
      said[0]!,
      /holds no manifest \(docker save before Docker 25\): the one dray made for it, sha256:[0-9a-f]{64}, is stored as /,
    );
    assert.ok(said[0]!.includes(`is stored as ${r.digest} (manifests converted to OCI format)`), said[0]);
    assert.equal(r.convertedFrom, undefined, "no referrer can name an invented digest");
    const m = parseManifest(await skopeoInspectRaw(`oci:${layout}:v1`)) as ImageManifest;
    assert.equal(m.config.mediaType, MediaType.OciConfig);
    assert.ok(m.config.digest.equals(img.config.digest), "config bytes unchanged");
    assertUmociUnpacks(layout, "v1", dir);
    const oa = join(dir, "out.tar");
    await copy(`docker-archive:${legacy}`, `oci-archive:${oa}:v1`);
    assert.equal((parseManifest(await skopeoInspectRaw(`oci-archive:${oa}:v1`)) as ImageManifest).mediaType, MediaType.OciManifest);
  });

  it("a Docker-typed image kept byte for byte into an OCI layout says once that OCI-only readers need --manifest-format oci", async () => {
    const img = await buildImage({ seed: "fmt-kept", format: "docker" });
    await pushImage({ url: registry.url }, "kept/src", "v1", img);
    const dir = makeTempDir();
    const said: string[] = [];
    const r = await copy(`docker://${registry.host}/kept/src:v1`, `oci:${join(dir, "l")}:v1`, { onProgress: notices(said) });
    assert.equal(r.digest, img.manifest.digest.toString());
    assert.equal(said.length, 1);
    assert.match(said[0]!, /--manifest-format oci/);
  });

  it("--manifest-format oci converts a Docker index: new digests, same config and layer blobs; skopeo and umoci read it", async () => {
    const idx = await buildIndex({ seed: "fmt-conv", format: "docker", platforms: ["linux/amd64", "linux/arm64"] });
    await pushImage({ url: registry.url }, "conv/src", "v1", idx);
    const dir = makeTempDir();
    const said: string[] = [];
    const layout = join(dir, "oci");
    const r = await copy(`docker://${registry.host}/conv/src:v1`, `oci:${layout}:v1`, { manifestFormat: "oci", onProgress: notices(said) });
    assert.notEqual(r.digest, idx.manifest.digest.toString());
    assert.equal(r.convertedFrom, idx.manifest.digest.toString());
    assert.match(said.join("\n"), /referrers of the old digest/);
    const top = parseManifest(await skopeoInspectRaw(`oci:${layout}:v1`)) as ImageIndex;
    assert.equal(top.mediaType, MediaType.OciIndex);
    assert.ok(Digest.of(await skopeoInspectRaw(`oci:${layout}:v1`)).equals(Digest.parse(r.digest)));
    for (const [i, child] of top.manifests.entries()) {
      const m = parseManifest(await readFile(join(layout, child.digest.blobPath))) as ImageManifest;
      const orig = idx.images[i]!;
      assert.equal(m.mediaType, MediaType.OciManifest);
      assert.ok(m.config.digest.equals(orig.config.digest));
      assert.deepEqual(
        m.layers.map((l) => [l.mediaType, l.digest.toString()]),
        orig.layers.map((l) => [MediaType.OciLayerGzip, l.digest.toString()]),
      );
    }
    assertSkopeoOk(await skopeoCopy(`oci:${layout}:v1`, `oci:${join(dir, "check")}:v1`, ["--all", "--preserve-digests"]));
    // And back to Docker format, which skopeo reads as v2s2.
    const back = await copy(`oci:${layout}:v1`, `docker://${registry.host}/conv/back:v1`, { manifestFormat: "docker" });
    assert.equal(back.mediaType, MediaType.DockerManifestList);
    const v2s2 = join(dir, "v2s2");
    assertSkopeoOk(
      await skopeoCopy(`docker://${registry.host}/conv/back:v1`, `dir:${v2s2}`, [
        "--src-tls-verify=false",
        "--format",
        "v2s2",
        "--override-arch",
        "arm64",
      ]),
    );
  });

  it("a Docker 25+ docker save archive (OCI layout inside) keeps its digest through copy", async () => {
    const img = await buildImage({ seed: "fmt-25", layerCount: 2 });
    const dir = makeTempDir();
    const file = join(dir, "d25.tar");
    // dray's own docker-archive is the Docker 25+ form; read it back into a registry and an oci-archive.
    await writeOciLayout(join(dir, "seed"), img, "s");
    await copy(`oci:${join(dir, "seed")}:s`, `docker-archive:${file}:modern:25`);
    const r = await copy(`docker-archive:${file}:modern:25`, `docker://${registry.host}/modern/img:25`);
    assert.equal(r.digest, img.manifest.digest.toString());
  });
});
