// Each start-up trick still moves the number it is there for, on the Node
// that runs the suite (CI: 20 and 24): runs of bin/dray.cjs with the trick on
// and with DRAY_STARTUP_OFF=TRICK, interleaved, medians compared. A trick
// that stops moving its number fails here and is to be removed
// (src/cli/startup/README.md lists them with what they saved when measured).
// CPU and peak memory come from the child itself, at exit.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it, type TestContext } from "node:test";
import { TRICKS, tricksOff, type Trick } from "../../../src/cli/startup/switches.cjs";
import { buildImage, pushImage } from "../../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { makeTempDir } from "../../helpers/tmp.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../.." : "../../../..", import.meta.url));
const BIN = join(ROOT, "bin", "dray.cjs");
const NODE_COMPILE_CACHE =
  typeof (createRequire(import.meta.url)("node:module") as { enableCompileCache?: unknown }).enableCompileCache === "function";

interface Sample {
  cpuMs: number;
  rssMiB: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe("DRAY_STARTUP_OFF", () => {
  it("names tricks, all of them, and warns about unknown names", () => {
    const warnings: string[] = [];
    assert.deepEqual([...tricksOff({})], []);
    assert.deepEqual([...tricksOff({ DRAY_STARTUP_OFF: "all" })].sort(), Object.keys(TRICKS).sort());
    assert.deepEqual([...tricksOff({ DRAY_STARTUP_OFF: " Cache, maxopt ,nope" }, (l) => warnings.push(l))].sort(), ["cache", "maxopt"]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^dray: DRAY_STARTUP_OFF: unknown trick "nope" ignored \(known: all, none, version, bundle/);
  });

  it("reads 0, false, no and none as nothing off, without a warning (the usual way to unset a switch)", () => {
    const warnings: string[] = [];
    for (const value of ["0", "false", "No", "none", " 0 "]) {
      assert.deepEqual([...tricksOff({ DRAY_STARTUP_OFF: value }, (l) => warnings.push(l))], [], value);
    }
    assert.deepEqual(warnings, []);
  });
});

describe(`each start-up trick still moves its number (Node ${process.version})`, () => {
  let registry: RegistryHandle;
  let work: string;
  let n = 0;

  /** One run of bin/dray.cjs; `args` gets a fresh folder for a destination. */
  function runOnce(args: (fresh: string) => string[], off: Trick | undefined): Promise<Sample> {
    const id = n++;
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
  async function compare(trick: Trick, args: (fresh: string) => string[], runs: number): Promise<{ on: Sample; off: Sample }> {
    const on: Sample[] = [];
    const off: Sample[] = [];
    for (let i = 0; i <= runs; i++) {
      const pair: Array<[Sample[], Trick | undefined]> = [
        [on, undefined],
        [off, trick],
      ];
      if (i % 2 === 1) pair.reverse();
      for (const [into, which] of pair) {
        const s = await runOnce(args, which);
        if (i > 0) into.push(s);
      }
    }
    const summary = (xs: Sample[]): Sample => ({ cpuMs: median(xs.map((x) => x.cpuMs)), rssMiB: median(xs.map((x) => x.rssMiB)) });
    return { on: summary(on), off: summary(off) };
  }

  const fmt = (s: Sample): string => `CPU ${s.cpuMs.toFixed(0)} ms, peak RSS ${s.rssMiB.toFixed(1)} MiB`;

  /** Asserts that the trick lowers `metric`'s median, and reports both medians. */
  async function assertMoves(
    t: TestContext,
    trick: Trick,
    args: (fresh: string) => string[],
    runs: number,
    metric: keyof Sample,
  ): Promise<void> {
    const r = await compare(trick, args, runs);
    t.diagnostic(`on: ${fmt(r.on)}; off: ${fmt(r.off)}`);
    assert.ok(r.on[metric] < r.off[metric], `${metric} did not move: on: ${fmt(r.on)}; off: ${fmt(r.off)}`);
  }

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    work = makeTempDir("dray-tricks-");
    mkdirSync(join(work, "tmp"));
    await pushImage(
      registry,
      "tricks/l30",
      "v1",
      await buildImage({ seed: "tricks-30", layerCount: 30, layerSize: 1 << 20, compression: "none" }),
    );
    await pushImage(registry, "tricks/big", "v1", await buildImage({ seed: "tricks-big", layerSize: 96 << 20, compression: "none" }));
  });
  after(async () => registry?.stop());

  const inspect = (): string[] => ["inspect", `docker://${registry.host}/tricks/l30:v1`];
  const copy30 = (fresh: string): string[] => ["copy", "-q", `docker://${registry.host}/tricks/l30:v1`, `oci:${fresh}:v1`];

  it("version: `dray --version` answered by the shim costs less CPU", async (t) => {
    await assertMoves(t, "version", () => ["--version"], 5, "cpuMs");
  });

  it("bundle: `dray inspect` of a registry image costs less CPU from the bundle", async (t) => {
    await assertMoves(t, "bundle", inspect, 5, "cpuMs");
  });

  it(
    "cache (Node 22.1+): `dray inspect` costs less CPU with Node's compile cache",
    { skip: !NODE_COMPILE_CACHE && "Node 20 has no compile cache (its hand-made V8 code cache saved nothing, and went)" },
    async (t) => {
      await assertMoves(t, "cache", inspect, 9, "cpuMs");
    },
  );

  it("liftoff: a registry → layout copy of 30 × 1 MiB peaks lower with llhttp kept in Liftoff", async (t) => {
    await assertMoves(t, "liftoff", copy30, 3, "rssMiB");
  });

  const MAGLEV = Number(process.versions.node.split(".")[0]) >= 22;
  it(
    "maxopt (Node 20): a registry → layout copy of 30 × 1 MiB costs less CPU without TurboFan",
    { skip: MAGLEV && "Node 22+ (Maglev): --max-opt=2 is not set, it moved nothing" },
    async (t) => {
      await assertMoves(t, "maxopt", copy30, 5, "cpuMs");
    },
  );

  it("gc: a 96 MiB layer copied from a registry peaks lower with the scavenger", async (t) => {
    await assertMoves(t, "gc", (fresh) => ["copy", "-q", `docker://${registry.host}/tricks/big:v1`, `oci:${fresh}:v1`], 3, "rssMiB");
  });
});
