// DRAY_STARTUP_OFF names the start-up tricks to turn off (src/cli/startup/README.md),
// and each trick still moves a number on the Node that runs the suite (CI: 20
// and 24): a count that does not depend on the machine's load (modules loaded,
// commands declared, V8's optimising compiles, minor GCs, cache files), with the
// trick on and with DRAY_STARTUP_OFF=TRICK. What each saves in CPU and memory
// is a benchmark, not a test: `npm run bench:tricks` (bench/tricks.ts).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { buildProgram, commandToDeclare } from "../../../src/cli/main.js";
import { TRICKS, tricksOff, type Trick } from "../../../src/cli/startup/switches.cjs";
import { silentContext } from "../../helpers/cli-context.js";
import { buildImage, pushImage } from "../../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { makeTempDir } from "../../helpers/tmp.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../.." : "../../../..", import.meta.url));
const BIN = join(ROOT, "bin", "dray.cjs");
const NODE_COMPILE_CACHE =
  typeof (createRequire(import.meta.url)("node:module") as { enableCompileCache?: unknown }).enableCompileCache === "function";
const MAGLEV = Number(process.versions.node.split(".")[0]) >= 22;

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

/** What a run of bin/dray.cjs counted, read at its exit by a preloaded probe. */
interface Counts {
  /** Files loaded through require (the bundle is one). */
  files: number;
  /** Node's own modules loaded. */
  builtins: number;
  /** Young-generation collections (perf_hooks' gc entries). */
  minorGcs: number;
  /** Optimising compiles V8 traced on stdout: TurboFan for JavaScript (--trace-opt), TurboFan for WebAssembly. */
  jsTurbofan: number;
  wasmTurbofan: number;
}

describe(`each start-up trick still moves its number (Node ${process.version}; counts, not times)`, () => {
  let registry: RegistryHandle;
  let work: string;
  let n = 0;

  /** One run of bin/dray.cjs, with `nodeFlags` before it; `args` gets a fresh folder for a destination. */
  function run(
    args: (fresh: string) => string[],
    off: Trick | undefined,
    nodeFlags: string[] = [],
    extraEnv: NodeJS.ProcessEnv = {},
  ): Counts {
    const id = n++;
    const probe = join(work, `probe-${id}.cjs`);
    const report = join(work, `counts-${id}.json`);
    const fresh = join(work, `dest-${id}`);
    writeFileSync(
      probe,
      `const { PerformanceObserver, constants } = require("node:perf_hooks");
let minorGcs = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minorGcs++; }).observe({ entryTypes: ["gc"] });
process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(report)}, JSON.stringify({
  files: Object.keys(require.cache).length,
  builtins: process.moduleLoadList.filter((m) => m.startsWith("NativeModule ")).length,
  minorGcs,
})));
`,
    );
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work, TMPDIR: join(work, "tmp"), NO_COLOR: "1", ...extraEnv };
    if (off) env.DRAY_STARTUP_OFF = off;
    const r = spawnSync(process.execPath, [...nodeFlags, "-r", probe, BIN, ...args(fresh)], { env, encoding: "utf8", maxBuffer: 64 << 20 });
    rmSync(fresh, { recursive: true, force: true });
    assert.equal(r.status, 0, `dray ${args(fresh).join(" ")} (off: ${off ?? "none"}) exited ${r.status ?? r.signal}: ${r.stderr}`);
    const counted = JSON.parse(readFileSync(report, "utf8")) as Omit<Counts, "jsTurbofan" | "wasmTurbofan">;
    const lines = r.stdout.split("\n");
    return {
      ...counted,
      jsTurbofan: lines.filter((l) => /^\[completed (optimizing|compiling)/.test(l)).length,
      wasmTurbofan: lines.filter((l) => /^Compiled function .* using TurboFan/.test(l)).length,
    };
  }

  /** Asserts that the trick lowers (or raises) `metric`, and reports both counts. */
  function assertMoves(
    t: { diagnostic(m: string): void },
    trick: Trick,
    metric: keyof Counts,
    way: "lower" | "higher",
    args: (fresh: string) => string[],
    nodeFlags: string[] = [],
  ): void {
    const on = run(args, undefined, nodeFlags)[metric];
    const off = run(args, trick, nodeFlags)[metric];
    t.diagnostic(`${metric}: on ${on}, off ${off}`);
    assert.ok(way === "lower" ? on < off : on > off, `${trick}: ${metric} did not move ${way}: on ${on}, off ${off}`);
  }

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    work = makeTempDir("dray-tricks-");
    mkdirSync(join(work, "tmp"));
    const l30 = await buildImage({ seed: "tricks-30", layerCount: 30, layerSize: 1 << 20, compression: "none" });
    await pushImage(registry, "tricks/l30", "v1", l30);
    await pushImage(registry, "tricks/big", "v1", await buildImage({ seed: "tricks-big", layerSize: 96 << 20, compression: "none" }));
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const inspect = (): string[] => ["inspect", `docker://${registry.host}/tricks/l30:v1`];
  const copy30 = (fresh: string): string[] => ["copy", "-q", `docker://${registry.host}/tricks/l30:v1`, `oci:${fresh}:v1`];
  // Background compiles run on the main thread, so what V8 compiles does not depend on the machine's load.
  const sync = ["--single-threaded"];

  it("version: `dray --version` answered by the shim loads fewer of Node's modules", (t) => {
    assertMoves(t, "version", "builtins", "lower", () => ["--version"]);
  });

  it("bundle: `dray inspect` of a registry image loads one file instead of a hundred", (t) => {
    assertMoves(t, "bundle", "files", "lower", inspect);
  });

  it("commands: a run declares one command to commander instead of all", () => {
    const ctx = silentContext();
    const argv = ["node", "dray", "inspect", "oci:x"];
    const on = buildProgram(ctx, commandToDeclare(argv, {})).commands.length;
    const off = buildProgram(ctx, commandToDeclare(argv, { DRAY_STARTUP_OFF: "commands" })).commands.length;
    assert.equal(on, 1);
    assert.ok(off > 10, `all commands declared with the trick off: ${off}`);
  });

  it(
    "cache (Node 22.1+): `dray inspect` leaves Node's compile cache in dray's folder",
    { skip: !NODE_COMPILE_CACHE && "Node 20 has no compile cache (its hand-made V8 code cache saved nothing, and went)" },
    () => {
      const files = (off: Trick | undefined): number => {
        const cache = join(work, `cache-${off ?? "on"}`);
        run(inspect, off, [], { DRAY_COMPILE_CACHE: cache });
        return existsSync(cache) ? readdirSync(cache, { recursive: true }).length : 0;
      };
      const on = files(undefined);
      const off = files("cache");
      assert.ok(on > 0 && off === 0, `cache files: on ${on}, off ${off}`);
    },
  );

  it("liftoff: a registry → layout copy of 30 × 1 MiB never tiers llhttp's WebAssembly up to TurboFan", (t) => {
    assertMoves(t, "liftoff", "wasmTurbofan", "lower", copy30, [...sync, "--trace-wasm-compilation-times"]);
  });

  it(
    "maxopt (Node 20): a registry → layout copy of 30 × 1 MiB runs no TurboFan compile",
    { skip: MAGLEV && "Node 22+ (Maglev): --max-opt=2 is not set, it moved nothing" },
    (t) => {
      assertMoves(t, "maxopt", "jsTurbofan", "lower", copy30, [...sync, "--trace-opt"]);
    },
  );

  it("gc: a 96 MiB layer copied from a registry gets young-generation collections as it streams", (t) => {
    assertMoves(t, "gc", "minorGcs", "higher", (fresh) => ["copy", "-q", `docker://${registry.host}/tricks/big:v1`, `oci:${fresh}:v1`]);
  });
});
