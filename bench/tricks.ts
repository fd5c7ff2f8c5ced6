// `npm run bench:tricks`: each start-up trick (src/cli/startup/README.md)
// still moves the number it is there for, on the Node that runs this: runs of
// bin/dray.cjs with the trick on and with DRAY_STARTUP_OFF=TRICK, interleaved,
// medians compared. A trick that stops moving its number is named, the exit
// code is 1, and the trick is to be removed. A benchmark, not a test: the
// differences are tens of milliseconds, which a loaded CI machine swamps.
// CPU and peak memory come from the child itself, at exit. Loopback only.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Trick } from "../src/cli/startup/switches.cjs";
import { buildImage, pushImage } from "../test/helpers/fixtures.js";
import { requireTool, startRegistry } from "../test/helpers/registry.js";
import { makeTempDir } from "../test/helpers/tmp.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? ".." : "../..", import.meta.url));
const BIN = join(ROOT, "bin", "dray.cjs");
const NODE_COMPILE_CACHE =
  typeof (createRequire(import.meta.url)("node:module") as { enableCompileCache?: unknown }).enableCompileCache === "function";
const MAGLEV = Number(process.versions.node.split(".")[0]) >= 22;

interface Sample {
  cpuMs: number;
  rssMiB: number;
}

interface TrickCase {
  trick: Trick;
  what: string;
  args: (fresh: string) => string[];
  runs: number;
  metric: keyof Sample;
  /** Why this Node does not run it, if it does not. */
  skip?: string | false;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (s: Sample): string => `CPU ${s.cpuMs.toFixed(0)} ms, peak RSS ${s.rssMiB.toFixed(1)} MiB`;

/** One run of bin/dray.cjs; `args` gets a fresh folder for a destination. */
function runOnce(work: string, id: number, args: (fresh: string) => string[], off: Trick | undefined): Promise<Sample> {
  const report = join(work, `usage-${id}.json`);
  const preload = join(work, `usage-${id}.cjs`);
  const fresh = join(work, `dest-${id}`);
  // Peak RSS from /proc (VmHWM, this process's own): getrusage's maxRSS can carry the forking parent's.
  const hwm = `Number(/VmHWM:\\s*(\\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1]) / 1024`;
  const record = `const fs = require("node:fs"); const u = process.resourceUsage(); fs.writeFileSync(${JSON.stringify(report)}, JSON.stringify({ cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, rssMiB: ${hwm} }))`;
  writeFileSync(preload, `process.on("exit", () => { ${record} });\n`);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work, TMPDIR: join(work, "tmp"), NO_COLOR: "1" };
  if (off) env.DRAY_STARTUP_OFF = off;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", preload, BIN, ...args(fresh)], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => {
      rmSync(fresh, { recursive: true, force: true });
      if (code !== 0) reject(new Error(`dray ${args(fresh).join(" ")} (off: ${off ?? "none"}) exited ${code}: ${stderr}`));
      else resolve(JSON.parse(readFileSync(report, "utf8")) as Sample);
    });
  });
}

/** Medians of `runs` runs each way, interleaved (a warm-up each way first: it also fills the compile cache). */
async function compare(work: string, c: TrickCase, next: () => number): Promise<{ on: Sample; off: Sample }> {
  const on: Sample[] = [];
  const off: Sample[] = [];
  for (let i = 0; i <= c.runs; i++) {
    const pair: Array<[Sample[], Trick | undefined]> = [
      [on, undefined],
      [off, c.trick],
    ];
    if (i % 2 === 1) pair.reverse();
    for (const [into, which] of pair) {
      const s = await runOnce(work, next(), c.args, which);
      if (i > 0) into.push(s);
    }
  }
  const summary = (xs: Sample[]): Sample => ({ cpuMs: median(xs.map((x) => x.cpuMs)), rssMiB: median(xs.map((x) => x.rssMiB)) });
  return { on: summary(on), off: summary(off) };
}

async function main(): Promise<number> {
  requireTool("docker-registry");
  const registry = await startRegistry();
  const work = makeTempDir("dray-tricks-");
  mkdirSync(join(work, "tmp"));
  let n = 0;
  let missed = 0;
  try {
    const l30 = await buildImage({ seed: "tricks-30", layerCount: 30, layerSize: 1 << 20, compression: "none" });
    await pushImage(registry, "tricks/l30", "v1", l30);
    await pushImage(registry, "tricks/big", "v1", await buildImage({ seed: "tricks-big", layerSize: 96 << 20, compression: "none" }));
    const inspect = (): string[] => ["inspect", `docker://${registry.host}/tricks/l30:v1`];
    const copy30 = (fresh: string): string[] => ["copy", "-q", `docker://${registry.host}/tricks/l30:v1`, `oci:${fresh}:v1`];
    const copyBig = (fresh: string): string[] => ["copy", "-q", `docker://${registry.host}/tricks/big:v1`, `oci:${fresh}:v1`];
    const cases: TrickCase[] = [
      { trick: "version", what: "`dray --version` CPU", args: () => ["--version"], runs: 5, metric: "cpuMs" },
      { trick: "bundle", what: "`dray inspect` (registry) CPU", args: inspect, runs: 5, metric: "cpuMs" },
      { trick: "commands", what: "`dray inspect` (registry) CPU", args: inspect, runs: 9, metric: "cpuMs" },
      {
        trick: "cache",
        what: "`dray inspect` (registry) CPU",
        args: inspect,
        runs: 9,
        metric: "cpuMs",
        skip: !NODE_COMPILE_CACHE && "Node 20 has no compile cache",
      },
      { trick: "liftoff", what: "registry → layout 30 × 1 MiB, peak RSS", args: copy30, runs: 3, metric: "rssMiB" },
      {
        trick: "maxopt",
        what: "registry → layout 30 × 1 MiB CPU",
        args: copy30,
        runs: 5,
        metric: "cpuMs",
        skip: MAGLEV && "Node 22+ (Maglev): --max-opt=2 is not set",
      },
      { trick: "gc", what: "registry → layout, one 96 MiB layer, peak RSS", args: copyBig, runs: 3, metric: "rssMiB" },
    ];
    process.stdout.write(`start-up tricks on Node ${process.version} (medians, on vs DRAY_STARTUP_OFF=trick)\n`);
    for (const c of cases) {
      if (c.skip) {
        process.stdout.write(`${c.trick}: skipped, ${c.skip}\n`);
        continue;
      }
      const r = await compare(work, c, () => n++);
      const moved = r.on[c.metric] < r.off[c.metric];
      if (!moved) missed++;
      process.stdout.write(`${c.trick}: ${c.what}: on ${fmt(r.on)}; off ${fmt(r.off)}${moved ? "" : " — DID NOT MOVE"}\n`);
    }
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  if (missed > 0)
    process.stdout.write(`${missed} trick(s) did not move their number on this run: rerun on a quiet machine before dropping one\n`);
  return missed > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:tricks: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
