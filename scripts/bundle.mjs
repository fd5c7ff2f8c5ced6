#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/main.js and everything it imports, undici,
// commander and the rest included) into one CommonJS file, dist/dray.cjs,
// which bin/dray.js runs with V8's code cache (src/cli/launch.ts explains why).
// The library (dist/src, ESM) is not bundled: importers keep their own
// dependency tree.
import { readFileSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const require = createRequire(import.meta.url);

// Built-in modules that most runs never call, but that a dependency or dray
// itself imports at load time. Each is replaced by an object of getters that
// loads the real module on first use: commander imports child_process for
// executable subcommands (which dray has none of), credential helpers need it
// only when configured, zlib only when a layer is decompressed.
const LAZY_BUILTINS = ["child_process", "zlib"];

/** A CommonJS module whose every export loads `name` on first access. */
function lazyBuiltinSource(name) {
  const keys = Object.keys(require(`node:${name}`));
  const lines = [
    "let loaded;",
    `const load = () => (loaded ??= require(${JSON.stringify(`node:${name}`)}));`,
    ...keys.map((k) => `Object.defineProperty(exports, ${JSON.stringify(k)}, { enumerable: true, get: () => load()[${JSON.stringify(k)}] });`),
  ];
  return lines.join("\n");
}

/** @type {import("esbuild").Plugin} */
const lazyModules = {
  name: "dray-lazy-modules",
  setup(b) {
    // undici's index (fetch, WebSocket, proxies) is needed only behind an HTTP
    // proxy: it stays in node_modules. The parts dray always uses (dispatcher,
    // request API) are bundled. (esbuild's `external` would take subpaths too.)
    b.onResolve({ filter: /^undici$/ }, (args) => ({ path: args.path, external: true }));

    const lazy = new RegExp(`^(node:)?(${LAZY_BUILTINS.join("|")})$`);
    b.onResolve({ filter: lazy }, (args) => {
      if (args.namespace === "dray-lazy") return undefined; // the loader's own require: the real module
      return { path: args.path.replace(/^node:/, ""), namespace: "dray-lazy" };
    });
    b.onLoad({ filter: /.*/, namespace: "dray-lazy" }, (args) => ({ contents: lazyBuiltinSource(args.path), loader: "js" }));

    // undici's HTTP/1 client imports its HTTP/2 client, and with it node:http2
    // (about 15 ms of start-up), though dray never offers h2 (allowH2 is off).
    // Load it only if a connection ever negotiates h2.
    b.onResolve({ filter: /^\.\/client-h2\.js$/ }, (args) => {
      if (!args.importer.endsWith(join("undici", "lib", "dispatcher", "client.js"))) return undefined;
      return { path: join(args.resolveDir, "client-h2.js"), namespace: "dray-lazy-h2" };
    });
    b.onLoad({ filter: /.*/, namespace: "dray-lazy-h2" }, (args) => ({
      contents: `module.exports = function connectH2(...args) { return require(${JSON.stringify(args.path)})(...args); };`,
      resolveDir: dirname(args.path),
      loader: "js",
    }));
  },
};

const result = await build({
  entryPoints: [join(root, "dist/src/cli/main.js")],
  outfile: join(root, "dist/dray.cjs"),
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
  plugins: [lazyModules],
  legalComments: "none",
  // Whitespace and syntax only: names stay, so --debug stack traces read.
  minifyWhitespace: true,
  minifySyntax: true,
  // ASCII only (esbuild escapes the rest), so the launcher can read it as latin1, without decoding.
  charset: "ascii",
  logLevel: "warning",
  metafile: true,
});
// bin/dray.cjs runs the bundle as a vm.Script, where import() has no module
// loader to call: every import must have been bundled or turned into require().
const outText = readFileSync(join(root, "dist/dray.cjs"), "latin1");
const dynamic = outText.match(/[^\w$.]import\([^)]*\)/g);
if (dynamic) {
  process.stderr.write(`dist/dray.cjs keeps dynamic import(): ${dynamic.join(", ")}; use require() or process.getBuiltinModule()\n`);
  process.exit(1);
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(`bundled dist/dray.cjs (${(bytes / 1024).toFixed(0)} KiB)\n`);
