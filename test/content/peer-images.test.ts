// export and cat on images and artifacts the peers made (issue 27, "Content
// commands on real images"): go-containerregistry's zstd layer, read on every
// Node through the one decompressor copy uses (item 16), and regclient's
// artifacts, refused before any layer is read (item 18). Fixtures under
// test/peers/ (each folder's README says where they came from).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { extract } from "tar-stream";
import { Readable } from "node:stream";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { dray, drayOk } from "../cli/run.js";
import { buildImage, writeOciLayout, type BuiltLayer } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";

const PEERS = fileURLToPath(new URL("../../../test/peers/", import.meta.url));
const CRANE = join(PEERS, "go-containerregistry/pkg/crane/testdata");
const TESTREPO = join(PEERS, "regclient/testdata/testrepo");

/** Names and contents of the files in a tar. */
async function filesOf(bytes: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ex = extract();
  Readable.from([bytes]).pipe(ex);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.type === "file") out[entry.header.name.replace(/^\.?\//, "")] = Buffer.concat(chunks).toString();
  }
  return out;
}

describe("export and cat read zstd layers on every Node (item 16)", () => {
  let layout: string;

  before(async () => {
    const zst = readFileSync(join(CRANE, "content.tar.zst"));
    const tar = readFileSync(join(CRANE, "content.tar"));
    const layer: BuiltLayer = {
      digest: Digest.of(zst),
      size: zst.length,
      mediaType: MediaType.OciLayerZstd,
      bytes: zst,
      diffId: Digest.of(tar),
      tar,
      files: [],
    };
    layout = join(makeTempDir("dray-zstd-"), "l");
    await writeOciLayout(layout, await buildImage({ seed: "crane-zstd", layerCount: 0, baseLayers: [layer] }), "v1");
  });

  it("go-containerregistry's content.tar.zst: export gives its files, cat one of them", async () => {
    const out = await drayOk(["export", `oci:${layout}:v1`, "-o", "-"]);
    assert.deepEqual(await filesOf(out.stdoutBytes), { bat: "bat\n", baz: "baz\n" });
    assert.equal((await drayOk(["cat", `oci:${layout}:v1`, "/baz"])).stdout, "baz\n");
    assert.match((await drayOk(["cat", "--list", `oci:${layout}:v1`])).stdout, /\/bat/);
  });

  it("an image dray itself recompressed with --compress zstd", async () => {
    const src = join(makeTempDir("dray-zstd-src-"), "l");
    await writeOciLayout(src, await buildImage({ seed: "own-zstd", layerCount: 2 }), "v1");
    const dst = join(makeTempDir("dray-zstd-dst-"), "l");
    await drayOk(["copy", "-q", "--compress", "zstd", `oci:${src}:v1`, `oci:${dst}:v1`]);
    const manifest = JSON.parse((await drayOk(["inspect", "--raw", `oci:${dst}:v1`])).stdout) as { layers: Array<{ mediaType: string }> };
    assert.ok(manifest.layers.every((l) => l.mediaType === MediaType.OciLayerZstd));
    assert.equal((await drayOk(["cat", `oci:${dst}:v1`, "/layer1/hello.txt"])).stdout, "hello from layer 1 of own-zstd/linux/amd64\n");
  });
});

describe("export and cat refuse an artifact before reading a layer (item 18)", () => {
  for (const [tag, type] of [
    ["a1", "application/example.sbom"],
    ["a2", "application/example.signature"],
    ["a-docker", "application/vnd.example.build-type+json"],
  ] as const) {
    it(`regclient's ${tag}: exit 5 naming it an artifact of ${type}`, async () => {
      for (const args of [
        ["export", `oci:${TESTREPO}:${tag}`, "-o", "-"],
        ["cat", `oci:${TESTREPO}:${tag}`, "/x"],
        ["cat", "--list", `oci:${TESTREPO}:${tag}`],
      ]) {
        const r = await dray(args);
        assert.equal(r.code, 5, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(
          r.stderr,
          new RegExp(`^dray: sha256:[0-9a-f]{64} is an artifact \\(${type.replace(/[.+]/g, "\\$&")}\\), not a container image`),
        );
      }
    });
  }

  it("a Helm chart (its layer a .tgz) is not exported as if it were a root filesystem", async () => {
    const chart = await buildImage({ seed: "helm", layerCount: 1 });
    const helm = {
      ...chart,
      config: { ...chart.config, mediaType: "application/vnd.cncf.helm.config.v1+json" },
    };
    const doc = JSON.parse(chart.manifest.bytes.toString()) as { config: { mediaType: string }; layers: Array<{ mediaType: string }> };
    doc.config.mediaType = "application/vnd.cncf.helm.config.v1+json";
    doc.layers[0]!.mediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
    const bytes = Buffer.from(JSON.stringify(doc));
    const dir = join(makeTempDir("dray-helm-"), "l");
    await writeOciLayout(dir, { ...helm, manifest: { bytes, mediaType: MediaType.OciManifest, digest: Digest.of(bytes) } }, "0.1.0");
    const r = await dray(["export", `oci:${dir}:0.1.0`, "-o", "-"]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /is an artifact \(application\/vnd\.cncf\.helm\.config\.v1\+json\), not a container image/);
  });

  it("regclient's v1 (a real multi-platform image in the same layout) still exports", async () => {
    const r = await drayOk(["export", "--platform", "linux/amd64", `oci:${TESTREPO}:v1`, "-o", "-"]);
    assert.ok(r.stdoutBytes.length > 0);
  });
});
