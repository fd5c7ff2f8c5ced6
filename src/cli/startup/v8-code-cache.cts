/**
 * Node 20 only: the bundled CLI (dist/dray.cjs) compiled with V8's code cache
 * by hand. Node 22.1+ does the same itself (`module.enableCompileCache()`,
 * see launch.cts), and this file goes when Node 20 is no longer supported.
 *
 * A short `dray inspect` used to spend more time compiling JavaScript than
 * talking to the registry. After a run of a command, the bytecode V8 made
 * for it (the functions it compiled lazily included) is kept, and the next
 * run of that command starts from it, with `vm.Script` and `cachedData`.
 *
 * The cache is one file per command and transports (what `copy` into a
 * layout compiles is not what `ls` of a registry does), named after the Node
 * version and the bundle's size and time, in a folder of the user's own
 * (cache-folder.cts). V8 checks the data against its version, flags and the
 * source and refuses what does not match; a refused or unreadable cache only
 * costs the compile it would have saved.
 */
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire, wrap } from "node:module";
import { dirname, join } from "node:path";
import { Script } from "node:vm";
import type { BundleExports } from "./cache-folder.cjs";

const TRANSPORTS: ReadonlyArray<[prefix: string, name: string]> = [
  ["docker://", "docker"],
  ["oci-archive:", "ociarchive"],
  ["docker-archive:", "dockerarchive"],
  ["oci:", "oci"],
];

/**
 * What a run compiles, as a cache name: the command (the first argument that
 * is not an option) and the transports of its locations, in order. A copy
 * into a layout runs other code than a copy into a registry; a cache made by
 * one would leave the other compiling its own functions on every run.
 */
export function commandOf(args: readonly string[]): string {
  const first = args.find((a) => !a.startsWith("-"));
  if (first === undefined || !/^[a-z][a-z-]{0,19}$/.test(first)) return "other";
  const kinds = args.flatMap((a) => TRANSPORTS.filter(([prefix]) => a.startsWith(prefix)).map(([, name]) => name));
  return [first, ...kinds.slice(0, 2)].join("-");
}

/** The part of a cache file's name that names this Node and this bundle. */
function bundleKey(bundlePath: string): string {
  const st = statSync(bundlePath);
  return [process.version, process.arch, st.size, Math.floor(st.mtimeMs)].join("-");
}

/** The cache file for this bundle, Node and command. */
export function cacheFile(dir: string, bundlePath: string, command: string): string {
  return join(dir, `${bundleKey(bundlePath)}-${command}.bin`);
}

/** Removes this Node's caches of other builds of the bundle (an upgrade, a rebuild): they will never be read again. */
export function removeStaleCaches(dir: string, bundlePath: string): void {
  const current = `${bundleKey(bundlePath)}-`;
  const sameNode = `${process.version}-${process.arch}-`;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(sameNode) || name.startsWith(current) || !name.endsWith(".bin")) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      // another run removed it first
    }
  }
}

function readCache(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Write-then-rename, so concurrent runs never read half a file. Failure is harmless. */
function writeCache(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/** Compile and run the bundle as CommonJS, with cached bytecode when there is some. */
function load(bundlePath: string, cached: Buffer | undefined): { exports: BundleExports; script: Script } {
  // The bundle is ASCII (scripts/bundle.mjs): latin1 reads it without UTF-8 decoding.
  const source = readFileSync(bundlePath, "latin1");
  const script = new Script(wrap(source), {
    filename: bundlePath,
    // No importModuleDynamically: the bundle has no import() (scripts/bundle.mjs checks).
    cachedData: cached,
  });
  const module = { exports: {} as BundleExports };
  const fn = script.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: object,
    filename: string,
    dirname: string,
  ) => void;
  fn.call(module.exports, module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath));
  return { exports: module.exports, script };
}

/** Run the CLI in `bundlePath` for `argv` (process.argv form), caching in `dir`; resolves to the exit code. */
export async function runWithCodeCache(bundlePath: string, argv: string[], dir: string | undefined): Promise<number> {
  let file: string | undefined;
  try {
    file = dir === undefined ? undefined : cacheFile(dir, bundlePath, commandOf(argv.slice(2)));
  } catch {
    file = undefined;
  }
  const cached = readCache(file);
  const { exports, script } = load(bundlePath, cached);
  const code = await exports.main(argv);
  // After the run, so the functions the command compiled lazily are in the cache too.
  if (file !== undefined && (cached === undefined || script.cachedDataRejected === true)) {
    writeCache(file, script.createCachedData());
    try {
      removeStaleCaches(dirname(file), bundlePath);
    } catch {
      // a cache folder that cannot be listed only keeps its old files
    }
  }
  return code;
}
