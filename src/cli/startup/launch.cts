/**
 * How bin/dray.cjs starts the CLI. Everything here exists to make a short run
 * (`dray inspect`, `dray ls`) start fast or a long one stay small; none of it
 * changes what dray does. README.md in this folder lists each piece with what
 * it measured.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { cacheFolder, type BundleExports } from "./cache-folder.cjs";
import { tricksOff, type Trick } from "./switches.cjs";

/** node:module's compile cache API (Node 22.1+); @types/node 20 does not know it. */
interface CompileCacheModule {
  enableCompileCache?: (directory?: string) => { status: number; message?: string; directory?: string };
}

/**
 * V8 settings for the CLI's process, set before the bundle is compiled.
 *
 * --liftoff-only: undici parses HTTP with a WebAssembly build of llhttp. V8's
 * optimising tier recompiles it in the background, which costs ~35 MiB of
 * peak memory and keeps a short-lived CLI waiting at exit; the baseline tier
 * is fast enough for header parsing (measured: peak RSS 100 -> 65 MiB for one
 * request).
 *
 * --expose-gc: gc() for the scavenger (scavenge.ts), which runs a young
 * generation collection every few MiB streamed so that dead socket buffers do
 * not pile up (measured: 500 MB layer peak RSS 97 -> 74 MiB).
 *
 * --max-opt=2: no TurboFan (Maglev at most, which Node 22+ has on). A run of
 * the CLI is short, and its hot code (stream plumbing, the HTTP parser's
 * callbacks) ran in TurboFan's background compiles for longer than the
 * optimised code saved: registry -> oci: layout of 30 x 1 MiB layers spent
 * ~15% of its CPU samples in them (perf); without them its CPU went
 * 732 -> 653 ms and peak RSS 82 -> 73 MiB (medians of 11, 2 busy cores), and a
 * 200 MiB layer's CPU 900 -> 794 ms.
 *
 * --wasm-tiering-budget: the same for Node 24, whose V8 ignores a run-time
 * --liftoff-only (and --no-wasm-dynamic-tiering) but honours the tier-up
 * budget: one no run spends keeps llhttp in Liftoff (measured on 24.22.3, dray inspect of a
 * loopback registry, 7 interleaved runs: wall 0.39 -> 0.21 s, user CPU
 * 0.26 -> 0.14 s).
 */
export function setV8Flags(off: ReadonlySet<Trick> = new Set()): void {
  if (!off.has("liftoff")) {
    setFlagsFromString("--liftoff-only");
    setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  }
  if (!off.has("gc")) setFlagsFromString("--expose-gc");
  if (!off.has("maxopt") && NO_MAGLEV) setFlagsFromString("--max-opt=2");
}

/**
 * Node 20's V8 has no Maglev: its next tier after the baseline is TurboFan,
 * which --max-opt=2 keeps out (registry -> layout copy of 30 x 1 MiB: 96
 * TurboFan compiles -> 0, CPU 701 -> 623 ms, medians of 5). On Node 22+ Maglev
 * takes such short runs and TurboFan compiled nothing after start-up with or
 * without the flag (--trace-opt, Node 24.22): there it is not set.
 */
const NO_MAGLEV = Number(process.versions.node.split(".")[0]) < 22;

/** Far beyond what any run spends: no wasm function is ever tiered up (V8's default is 1.8 M). */
const WASM_TIERING_BUDGET = 1_000_000_000;

/**
 * Node 22.1+ keeps compiled code itself: turned on here for this process, in
 * dray's cache folder (cache-folder.cts), unless caching is off
 * (DRAY_STARTUP_OFF=cache, DRAY_COMPILE_CACHE=0 or NODE_DISABLE_COMPILE_CACHE=1).
 * Node 20 has no compile cache; a hand-made V8 code cache of the bundle
 * (vm.Script cachedData) was measured there and saved nothing (dray inspect:
 * the same CPU, medians of 15 interleaved runs), so there is none.
 */
export function enableNodeCompileCache(): void {
  const { enableCompileCache } = require("node:module") as CompileCacheModule;
  if (enableCompileCache === undefined) return;
  const dir = cacheFolder();
  if (dir !== undefined) enableCompileCache(dir);
}

/** Runs the CLI for `argv` (process.argv form); resolves to the exit code. */
export async function start(argv: string[]): Promise<number> {
  const off = tricksOff(process.env, (line) => process.stderr.write(`${line}\n`));
  setV8Flags(off);
  if (!off.has("cache")) enableNodeCompileCache();
  const bundle = join(__dirname, "..", "..", "..", "dray.cjs");
  if (off.has("bundle") || !existsSync(bundle)) {
    // Built with tsc only (no bundle), or the bundle switched off: run the modules as they are.
    const cli = (await import("../main.js")) as BundleExports;
    return cli.main(argv);
  }
  return (require(bundle) as BundleExports).main(argv);
}
