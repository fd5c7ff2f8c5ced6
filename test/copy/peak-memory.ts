// Peak memory of `dray copy` for a 50 MB and a 500 MB single-layer image, as
// /usr/bin/time -v reports it (maximum resident set size), over several paths:
// layout → registry, registry → layout, registry → docker-archive (gunzip
// while streaming). Run after `npm run build`:
//   node --import tsx test/copy/peak-memory.ts
// Not a *.test.ts: it takes a minute and prints a table for the issue's "Show".
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
import { startRegistry } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

const run = promisify(execFile);
const BIN = fileURLToPath(new URL("../../bin/dray.cjs", import.meta.url));

async function peakKb(args: string[]): Promise<{ kb: number; seconds: number }> {
  const { stderr } = await run("/usr/bin/time", ["-v", process.execPath, BIN, ...args], { maxBuffer: 16 * 1024 * 1024 });
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  return { kb, seconds };
}

const dir = makeTempDir("dray-peak-");
const registry = await startRegistry();
const rows: string[] = [];
try {
  for (const mb of [50, 500]) {
    const img = await buildImage({ layerCount: 1, layerSize: mb * 1_000_000, seed: `peak-${mb}` });
    const layout = join(dir, `src-${mb}`);
    await writeOciLayout(layout, img, "v1");
    const paths: Array<[string, string[]]> = [
      ["oci → registry", ["copy", "-q", `oci:${layout}:v1`, `docker://${registry.host}/peak/${mb}:v1`]],
      ["registry → oci", ["copy", "-q", `docker://${registry.host}/peak/${mb}:v1`, `oci:${join(dir, `dst-${mb}`)}:v1`]],
      [
        "registry → docker-archive",
        ["copy", "-q", `docker://${registry.host}/peak/${mb}:v1`, `docker-archive:${join(dir, `dst-${mb}.tar`)}:peak:v1`],
      ],
    ];
    for (const [name, args] of paths) {
      const { kb, seconds } = await peakKb(args);
      rows.push(
        `${String(mb).padStart(4)} MB  ${name.padEnd(26)} peak RSS ${(kb / 1024).toFixed(1).padStart(6)} MiB  ${seconds.toFixed(1)} s`,
      );
      console.log(rows.at(-1));
    }
  }
} finally {
  await registry.stop();
}
