#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/main.js and everything it imports, undici,
// commander and the rest included) into one CommonJS file, dist/dray.cjs,
// which bin/dray.cjs runs through src/cli/startup/launch.cts. What the bundle
// leaves out or loads late is the start-up plugin's business
// (src/cli/startup/bundle-plugin.mts, compiled by tsc before this runs).
// The library (dist/src, ESM) is not bundled: importers keep their own
// dependency tree. With --sea: the single executable's script instead
// (dist/sea/dray.cjs, from src/cli/startup/sea.mts), which has no node_modules
// beside it and so bundles undici whole (scripts/build-exe.mjs).
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { LAZY_BUILTINS, startupPlugin } from "../dist/src/cli/startup/bundle-plugin.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const sea = process.argv.includes("--sea");
const entry = sea ? "dist/src/cli/startup/sea.mjs" : "dist/src/cli/main.js";
const outRel = sea ? "dist/sea/dray.cjs" : "dist/dray.cjs";
const outfile = join(root, outRel);

const result = await build({
  entryPoints: [join(root, entry)],
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // The keychain module is native and optional: resolved at run time, never bundled.
  external: ["@github/keytar", ...builtinModules.filter((m) => !LAZY_BUILTINS.includes(m)).flatMap((m) => [m, `node:${m}`])],
  define: {
    __DRAY_VERSION__: JSON.stringify(pkg.version),
    // main.ts reads import.meta.url only when __DRAY_VERSION__ is unset; keep it a valid URL anyway.
    "import.meta.url": "__dray_bundle_url",
  },
  banner: { js: 'const __dray_bundle_url = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [startupPlugin({ undiciIndex: !sea })],
  legalComments: "none",
  // Whitespace and syntax only: names stay, so --debug stack traces read.
  minifyWhitespace: true,
  minifySyntax: true,
  // ASCII only (esbuild escapes the rest), so the launcher can read it as latin1, without decoding.
  charset: "ascii",
  logLevel: "warning",
  metafile: true,
});
// A single executable's script (--sea) has no module loader for import() to call: every import
// must have been bundled or turned into require(); the npm CLI's bundle is held to the same.
const outText = readFileSync(outfile, "latin1");
const dynamic = outText.match(/[^\w$.]import\([^)]*\)/g);
if (dynamic) {
  process.stderr.write(`${outRel} keeps dynamic import(): ${dynamic.join(", ")}; use require() or process.getBuiltinModule()\n`);
  process.exit(1);
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
// stderr: prepack runs this, and `npm pack`'s stdout is the tarball's name (or --json) that scripts read.
process.stderr.write(`bundled ${outRel} (${(bytes / 1024).toFixed(0)} KiB)\n`);
