// The sixteen source × destination pairs, each with a single-platform image
// and a three-platform index, through the real transports against the real
// registry; skopeo reads every result (its copy verifies every blob digest)
// and the digests are compared. Sources are seeded without dray: the registry
// by plain HTTP pushes, layouts by a minimal writer, archives by skopeo.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { copy } from "../../src/copy/index.js";
import { Digest } from "../../src/oci/digest.js";
import { parseManifest } from "../../src/oci/manifest.js";
import { buildImage, buildIndex, pushImage, writeOciLayout, type Built, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";

type Kind = "docker" | "oci" | "oci-archive" | "docker-archive";
const KINDS: Kind[] = ["docker", "oci", "oci-archive", "docker-archive"];
type Shape = "single" | "multi";

describe("copy: every source to every destination", { concurrency: 1 }, () => {
  let registry: RegistryHandle;
  let dir: string;
  const images = {} as { single: BuiltImage; multi: BuiltIndex };
  /** The source location of each kind and shape (a docker-archive holds one platform: the single image). */
  const sources = new Map<string, string>();

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    registry = await startRegistry();
    dir = makeTempDir("dray-matrix-");
    images.single = await buildImage({ format: "oci", layerCount: 2, layerSize: 100_000, seed: "matrix-single" });
    images.multi = await buildIndex({ format: "oci", sharedBaseLayer: true, layerCount: 1, layerSize: 100_000, seed: "matrix-multi" });
    for (const shape of ["single", "multi"] as Shape[]) {
      await pushImage({ url: registry.url }, `src/${shape}`, "v1", images[shape]);
      sources.set(`docker/${shape}`, `docker://${registry.host}/src/${shape}:v1`);
      await writeOciLayout(join(dir, `oci-src-${shape}`), images[shape], "v1");
      sources.set(`oci/${shape}`, `oci:${join(dir, `oci-src-${shape}`)}:v1`);
      const archive = join(dir, `src-${shape}.oci.tar`);
      assertSkopeoOk(
        await skopeoCopy(`oci:${join(dir, `oci-src-${shape}`)}:v1`, `oci-archive:${archive}:v1`, ["--all", "--preserve-digests"]),
      );
      sources.set(`oci-archive/${shape}`, `oci-archive:${archive}:v1`);
    }
    const dockerArchive = join(dir, "src.docker.tar");
    assertSkopeoOk(await skopeoCopy(`oci:${join(dir, "oci-src-single")}:v1`, `docker-archive:${dockerArchive}:src/single:v1`));
    sources.set("docker-archive/single", `docker-archive:${dockerArchive}`);
    sources.set("docker-archive/multi", `docker-archive:${dockerArchive}`);
  });

  after(async () => {
    await registry?.stop();
  });

  function destination(kind: Kind, name: string): { dray: string; skopeo: string } {
    switch (kind) {
      case "docker":
        return { dray: `docker://${registry.host}/dst/${name}:v1`, skopeo: `docker://${registry.host}/dst/${name}:v1` };
      case "oci":
        return { dray: `oci:${join(dir, name)}:v1`, skopeo: `oci:${join(dir, name)}:v1` };
      case "oci-archive":
        return { dray: `oci-archive:${join(dir, `${name}.tar`)}:v1`, skopeo: `oci-archive:${join(dir, `${name}.tar`)}:v1` };
      case "docker-archive":
        return {
          dray: `docker-archive:${join(dir, `${name}.docker.tar`)}:dst/${name}:v1`,
          skopeo: `docker-archive:${join(dir, `${name}.docker.tar`)}`,
        };
    }
  }

  for (const from of KINDS) {
    for (const to of KINDS) {
      for (const shape of ["single", "multi"] as Shape[]) {
        if (from === "docker-archive" && shape === "multi") continue; // holds one platform only
        it(`${from} → ${to}, ${shape}`, async () => {
          const src = sources.get(`${from}/${shape}`)!;
          const name = `${from}-${to}-${shape}`.replace(/[^a-z0-9-]/g, "");
          const dst = destination(to, name);
          const summary = await copy(src, dst.dray, { platforms: [] });
          if (from === "docker-archive" && (to === "oci" || to === "oci-archive")) {
            // A docker-archive's manifest is Docker-typed, and skopeo 1.9 reads only OCI-typed
            // entries from a layout; so read the layout's files here, hashing every one.
            const layoutDir = to === "oci" ? join(dir, name) : await untar(join(dir, `${name}.tar`));
            const raw = await verifyLayout(layoutDir, "v1");
            assert.equal(Digest.of(raw).toString(), summary.digest);
            assert.deepEqual(contentOf(raw), contentOf(await skopeoInspectRaw(src)));
            return;
          }
          const raw = await skopeoInspectRaw(dst.skopeo);
          // skopeo reads every manifest and blob of the result, verifying each digest.
          assertSkopeoOk(
            await skopeoCopy(
              dst.skopeo,
              `oci:${join(dir, `verify-${name}`)}:v`,
              to === "docker-archive" ? [] : ["--all", "--preserve-digests"],
            ),
          );
          const source = await skopeoInspectRaw(src);
          if (to === "docker-archive") {
            // docker-archive writes its own manifest: the image ID (config digest) and the layers' diff_ids are what survive.
            const parsed = parseManifest(raw);
            assert.ok(parsed.kind === "manifest");
            const wanted = shape === "multi" ? hostImage(images.multi) : images.single;
            assert.equal(parsed.config.digest.toString(), wanted.config.digest.toString());
            const config = await skopeoInspect(dst.skopeo, { config: true });
            assert.deepEqual(
              (config.rootfs as { diff_ids: string[] }).diff_ids,
              wanted.layers.map((l) => l.diffId.toString()),
            );
            if (shape === "multi") assert.match(summary.notice ?? "", /this host's/);
          } else if (from === "docker-archive") {
            // A docker-archive has no manifest of its own: each tool synthesises one, so compare what it names.
            assert.equal(Digest.of(raw).toString(), summary.digest, "dray reports the digest skopeo reads");
            assert.deepEqual(contentOf(raw), contentOf(source));
            assert.equal(contentOf(raw).config, images.single.config.digest.toString());
          } else {
            assert.equal(Digest.of(raw).toString(), summary.digest, "dray reports the digest skopeo reads");
            assert.deepEqual(raw, source, "manifest bytes unchanged");
            assert.equal(summary.digest, Digest.of(source).toString());
          }
        });
      }
    }
  }
});

async function untar(file: string): Promise<string> {
  const out = makeTempDir("dray-untar-");
  await promisify(execFile)("tar", ["-xf", file, "-C", out]);
  return out;
}

/** Reads a layout's tagged image from its files: index.json, then the manifest and every blob, each hashed against its digest. */
async function verifyLayout(layout: string, tag: string): Promise<Buffer> {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  const entry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  assert.ok(entry, `no ${tag} in ${layout}/index.json`);
  const read = async (digest: string): Promise<Buffer> => {
    const d = Digest.parse(digest);
    const bytes = await readFile(join(layout, d.blobPath));
    assert.equal(Digest.of(bytes).toString(), digest, `blob ${digest} in ${layout}`);
    return bytes;
  };
  const raw = await read(entry.digest);
  const m = parseManifest(raw);
  assert.ok(m.kind === "manifest");
  for (const d of [m.config, ...m.layers]) assert.equal((await read(d.digest.toString())).length, d.size);
  return raw;
}

/** The config and layer digests a manifest names. */
function contentOf(raw: Buffer): { config: string; layers: string[] } {
  const m = parseManifest(raw);
  assert.ok(m.kind === "manifest");
  return { config: m.config.digest.toString(), layers: m.layers.map((l) => l.digest.toString()) };
}

function hostImage(built: Built): Extract<Built, { kind: "image" }> {
  assert.ok(built.kind === "index");
  const arch = process.arch === "arm64" ? "arm64" : "amd64";
  return built.images.find((i) => i.platform.architecture === arch)!;
}
