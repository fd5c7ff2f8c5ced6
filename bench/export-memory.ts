// Run by hand (not part of `npm run bench` or the tests):
//   npm run build && node dist/bench/export-memory.js [LAYER_MB...]
// Peak memory and time of `dray export` on an image of 5 layers of LAYER_MB
// random bytes each (default 40 and 200, to show that peak RSS does not grow
// with layer size), against the peers' way to the same tree: `skopeo copy`
// from the registry into an OCI layout, then `umoci unpack --rootless`.
// (`skopeo copy … dir:` writes a folder umoci cannot read, so the layout
// form is used for the umoci half.) Loopback registry only.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MediaType } from "../src/oci/mediatype.js";
import { Digest } from "../src/oci/digest.js";
import { startRegistry } from "../test/helpers/registry.js";
import { skopeoCopy } from "../test/helpers/skopeo.js";
import { makeTempDir } from "../test/helpers/tmp.js";
import { writeBigLayer } from "./big-layer.js";
import { requireGnuTime, runTimed, type Sample } from "./measure.js";

const LAYERS = 5;
const TIMEOUT_MS = 20 * 60_000;
const DRAY = fileURLToPath(new URL("../../bin/dray.cjs", import.meta.url));

async function writeLayout(dir: string, layerMb: number): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const layers: Array<{ digest: Digest; size: number; diffId: Digest }> = [];
  for (let i = 0; i < LAYERS; i++) {
    const tmp = join(dir, `layer-${i}.tmp`);
    const l = await writeBigLayer(tmp, layerMb * 1024 * 1024, `export-memory/${i}`, `layer${i}/random.bin`);
    await import("node:fs/promises").then((fs) => fs.rename(tmp, join(dir, l.digest.blobPath)));
    layers.push(l);
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId.toString()) } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, size: config.length, digest: Digest.of(config).toString() },
      layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, size: l.size, digest: l.digest.toString() })),
    }),
  );
  await writeFile(join(dir, Digest.of(config).blobPath), config);
  await writeFile(join(dir, Digest.of(manifest).blobPath), manifest);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const entry = {
    mediaType: MediaType.OciManifest,
    size: manifest.length,
    digest: Digest.of(manifest).toString(),
    annotations: { "org.opencontainers.image.ref.name": "t" },
  };
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
}

function row(name: string, s: Sample): string {
  return `| ${name} | ${(s.ms / 1000).toFixed(1)} s | ${s.cpuMs === undefined ? "?" : (s.cpuMs / 1000).toFixed(1)} s | ${s.rssKiB === undefined ? "?" : (s.rssKiB / 1024).toFixed(0)} MiB | ${s.code} |`;
}

async function main(): Promise<void> {
  requireGnuTime();
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const reg = await startRegistry();
  const lines = [
    `load before: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")} (2 cores, shared)`,
    "",
    "| case | wall | cpu | peak RSS | exit |",
    "|---|---|---|---|---|",
  ];
  for (const mb of sizes.length > 0 ? sizes : [40, 200]) {
    const dir = makeTempDir("dray-export-memory-");
    await writeLayout(join(dir, "src"), mb);
    const copied = await skopeoCopy(`oci:${join(dir, "src")}:t`, `docker://${reg.host}/big:${mb}`);
    if (copied.code !== 0) throw new Error(copied.stderr);
    const env = { ...process.env };
    const dray = await runTimed(
      { file: process.execPath, args: [DRAY, "export", `docker://${reg.host}/big:${mb}`, "-o", join(dir, "export.tar")] },
      env,
      dir,
      TIMEOUT_MS,
    );
    await rm(join(dir, "export.tar"), { force: true });
    const skopeo = await runTimed(
      { file: "skopeo", args: ["copy", "--src-tls-verify=false", `docker://${reg.host}/big:${mb}`, `oci:${join(dir, "copy")}:t`] },
      env,
      dir,
      TIMEOUT_MS,
    );
    const umoci = await runTimed(
      { file: "umoci", args: ["unpack", "--rootless", "--image", `${join(dir, "copy")}:t`, join(dir, "bundle")] },
      env,
      dir,
      TIMEOUT_MS,
    );
    lines.push(
      row(`dray export, ${LAYERS}×${mb} MB`, dray),
      row(`skopeo copy → oci:, ${LAYERS}×${mb} MB`, skopeo),
      row(`umoci unpack, ${LAYERS}×${mb} MB`, umoci),
    );
    await rm(dir, { recursive: true, force: true });
  }
  lines.push(
    "",
    `load after: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`,
  );
  await reg.stop();
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
