#!/usr/bin/env node
// `npm run demo` builds first (`npm ci` runs no build), but only when the
// build is missing or older than what it is built from. A rebuild rewrites
// dist/ file by file; while the test suite runs, the README test's demo
// rebuilt it under the feet of every concurrent `dray` (CI: "tricksOff is not
// a function" from a half-written dist/src/cli/startup/switches.cjs).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const OUTPUTS = ["dist/dray.cjs", "dist/src/index.js", "dist/src/cli/startup/launch.cjs"];
const INPUTS = ["src", "scripts/bundle.mjs", "tsconfig.json", "package.json", "package-lock.json"];

/** Newest modification time under `path` (a file or a folder), 0 when it is missing. */
function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let most = st.mtimeMs;
  for (const entry of readdirSync(path)) most = Math.max(most, newest(join(path, entry)));
  return most;
}

/** Oldest output, 0 when one is missing. */
function oldestOutput() {
  let least = Infinity;
  for (const out of OUTPUTS) {
    try {
      least = Math.min(least, statSync(join(ROOT, out)).mtimeMs);
    } catch {
      return 0;
    }
  }
  return least;
}

const inputs = Math.max(...INPUTS.map((p) => newest(join(ROOT, p))));
if (oldestOutput() < inputs) {
  const r = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" });
  process.exit(r.status ?? 1);
}
