// The formats matrix: source form × destination form × conversion, through
// the real engine, each result read back by skopeo (its `dir:` copy with
// --dest-decompress checks every layer against the config's diff_ids) and by
// umoci where the result is an OCI layout of gzip layers; digests compared
// where they must be kept. Sources are made by independent writers: the
// fixtures (OCI layout, registry push) and skopeo (pre-25 docker-archive,
// zstd image via --dest-compress-format zstd).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { copy } from "../../src/copy/index.js";
import type { CopyOptions } from "../../src/copy/types.js";
import { Digest } from "../../src/oci/digest.js";
import { parseManifest, type ImageManifest } from "../../src/oci/manifest.js";
import { MediaType, layerCompression } from "../../src/oci/mediatype.js";
import { buildImage, pushImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";

type SourceForm = "oci" | "registry-docker" | "docker-archive-25" | "docker-archive-legacy" | "zstd";
type DestForm = "oci" | "oci-archive" | "docker-archive" | "registry";

interface Seeded {
  loc: string;
  /** The manifest bytes a digest-keeping copy must reproduce (undefined: the source has none of its own). */
  manifest?: Buffer;
}

let registry: RegistryHandle;
let counter = 0;

/**
 * Where a cell writes, where skopeo reads the stored manifest (layouts
 * without a REF: skopeo 1.9 finds a Docker-typed index.json entry only so),
 * and where it reads the image from for the diff_id check.
 */
function destination(form: DestForm, dir: string): { write: string; raw: string; read: string; layout?: string } {
  const n = `d${++counter}`;
  const file = join(dir, `${n}.tar`);
  switch (form) {
    case "oci":
      return { write: `oci:${join(dir, n)}:t`, raw: `oci:${join(dir, n)}`, read: `oci:${join(dir, n)}`, layout: join(dir, n) };
    case "oci-archive":
      return { write: `oci-archive:${file}:t`, raw: `oci-archive:${file}`, read: `oci-archive:${file}` };
    case "docker-archive":
      // The dual form: the OCI side holds the stored manifest, the docker side is what docker load and skopeo read.
      return { write: `docker-archive:${file}:mx/${n}:t`, raw: `oci-archive:${file}`, read: `docker-archive:${file}:mx/${n}:t` };
    case "registry":
      return {
        write: `docker://${registry.host}/mx/${n}:t`,
        raw: `docker://${registry.host}/mx/${n}:t`,
        read: `docker://${registry.host}/mx/${n}:t`,
      };
  }
}

async function seed(form: SourceForm, img: BuiltImage, dir: string): Promise<Seeded> {
  const layout = join(dir, `seed-${form}`);
  switch (form) {
    case "oci":
      await writeOciLayout(layout, img, "s");
      return { loc: `oci:${layout}:s`, manifest: img.manifest.bytes };
    case "registry-docker":
      await pushImage({ url: registry.url }, `seed/${form}`, "s", img);
      return { loc: `docker://${registry.host}/seed/${form}:s`, manifest: img.manifest.bytes };
    case "docker-archive-25": {
      await writeOciLayout(layout, img, "s");
      const file = join(dir, "seed-25.tar");
      await copy(`oci:${layout}:s`, `docker-archive:${file}:seed/d25:s`);
      return { loc: `docker-archive:${file}`, manifest: img.manifest.bytes };
    }
    case "docker-archive-legacy": {
      await pushImage({ url: registry.url }, "seed/legacy", "s", img);
      const file = join(dir, "seed-legacy.tar");
      assertSkopeoOk(await skopeoCopy(`docker://${registry.host}/seed/legacy:s`, `docker-archive:${file}:seed/legacy:s`));
      return { loc: `docker-archive:${file}` };
    }
    case "zstd": {
      await writeOciLayout(layout, img, "s");
      const z = join(dir, "seed-zstd-skopeo");
      assertSkopeoOk(await skopeoCopy(`oci:${layout}:s`, `oci:${z}:s`, ["--dest-compress-format", "zstd"]));
      return { loc: `oci:${z}:s`, manifest: await skopeoInspectRaw(`oci:${z}:s`) };
    }
  }
}

/** skopeo copies the result to dir: with every layer decompressed; each must hash to the config's diff_id. */
async function assertDiffIds(read: string, dir: string, img: BuiltImage, cell: string): Promise<void> {
  const out = join(dir, `check${++counter}`);
  assertSkopeoOk(await skopeoCopy(read, `dir:${out}`, ["--dest-decompress"]));
  const m = parseManifest(await readFile(join(out, "manifest.json"))) as ImageManifest;
  assert.ok(m.config.digest.equals(img.config.digest), "config bytes unchanged");
  const layers = await Promise.all(m.layers.map(async (l) => Digest.of(await readFile(join(out, l.digest.hex))).toString()));
  assert.deepEqual(
    layers,
    img.layers.map((l) => l.diffId.toString()),
    `${cell}: layers inflate to the diff_ids`,
  );
}

function assertUmoci(layout: string, dir: string): void {
  const r = spawnSync("umoci", ["unpack", "--rootless", "--image", `${layout}:t`, join(dir, `bundle${++counter}`)], { encoding: "utf8" });
  assert.equal(r.status, 0, `umoci unpack: ${r.stderr}`);
}

async function runCell(
  from: SourceForm,
  to: DestForm,
  opts: CopyOptions,
  expect: { kept: boolean; layers?: "gzip" | "zstd" | "none"; format?: "oci" | "docker" },
): Promise<void> {
  const dir = makeTempDir();
  const img = await buildImage({
    seed: `mx-${from}`,
    layerCount: 2,
    format: from === "registry-docker" || from === "docker-archive-legacy" ? "docker" : "oci",
  });
  const src = await seed(from, img, dir);
  const dst = destination(to, dir);
  const r = await copy(src.loc, dst.write, opts);
  const raw = await skopeoInspectRaw(dst.raw);
  assert.ok(Digest.of(raw).equals(Digest.parse(r.digest)), "the digest printed is the one stored");
  if (expect.kept) assert.deepEqual(raw, src.manifest, "digest kept");
  const m = parseManifest(raw) as ImageManifest;
  if (expect.format) assert.equal(m.mediaType, expect.format === "oci" ? MediaType.OciManifest : MediaType.DockerManifest);
  if (expect.layers)
    assert.deepEqual(
      m.layers.map((l) => layerCompression(l.mediaType)),
      m.layers.map(() => expect.layers),
      `${from} → ${to}`,
    );
  await assertDiffIds(dst.read, dir, img, `${from} → ${to}`);
  const gzip = m.layers.every((l) => layerCompression(l.mediaType) === "gzip");
  if (dst.layout && gzip && m.mediaType === MediaType.OciManifest) assertUmoci(dst.layout, dir);
}

describe("formats matrix: source × destination × conversion, read back by skopeo and umoci", () => {
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry.stop();
  });

  const sources: SourceForm[] = ["oci", "registry-docker", "docker-archive-25", "docker-archive-legacy", "zstd"];
  const dests: DestForm[] = ["oci", "oci-archive", "docker-archive", "registry"];
  for (const from of sources) {
    it(`${from} → every destination, no conversion: digests kept where the source has one`, async () => {
      // The destinations of one source run side by side: skopeo and umoci are processes, the machine waits on them.
      await Promise.all(
        dests.map(async (to) => {
          // zstd into a docker-archive is decompressed (docker load before 2020 cannot read zstd): a new digest.
          const zstdIntoDocker = from === "zstd" && to === "docker-archive";
          // A pre-25 archive has no manifest: into an OCI layout it gets OCI media types.
          const legacyIntoLayout = from === "docker-archive-legacy" && (to === "oci" || to === "oci-archive");
          await runCell(
            from,
            to,
            {},
            {
              kept: src(from) && !zstdIntoDocker,
              ...(zstdIntoDocker ? { layers: "none" as const } : {}),
              ...(legacyIntoLayout ? { format: "oci" as const } : {}),
            },
          );
        }),
      );
    });
  }

  const conversions: Array<[string, CopyOptions, { layers?: "gzip" | "zstd" | "none"; format?: "oci" | "docker" }]> = [
    ["--manifest-format oci", { manifestFormat: "oci" }, { format: "oci" }],
    ["--manifest-format docker", { manifestFormat: "docker" }, { format: "docker", layers: "gzip" }],
    ["--compress zstd --compress-level 9", { compress: "zstd", compressLevel: 9 }, { format: "oci", layers: "zstd" }],
    ["--compress none", { compress: "none" }, { layers: "none" }],
    ["--compress gzip --compress-level 1", { compress: "gzip", compressLevel: 1 }, { layers: "gzip" }],
  ];
  for (const [name, opts, expect] of conversions) {
    it(`${name}: a Docker-format registry image into oci:, a zstd layout into a registry`, async () => {
      // Two cells per conversion keep the matrix under a minute; the destination kinds alternate.
      for (const [from, to] of [
        ["registry-docker", "oci"],
        ["zstd", "registry"],
      ] as const) {
        if (from === "zstd" && opts.manifestFormat === "docker") continue; // decompressed: covered by the docker-archive cell
        const same =
          (from === "registry-docker" && opts.manifestFormat === "docker") ||
          (from === "zstd" && opts.compress === "zstd" && opts.compressLevel === undefined);
        await runCell(from, to, opts, { kept: same, ...expect });
      }
    });
  }
});

/** Whether the source form has a manifest of its own to keep. */
function src(form: SourceForm): boolean {
  return form !== "docker-archive-legacy";
}
