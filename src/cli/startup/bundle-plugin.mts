/**
 * The start-up parts of the CLI bundle (scripts/bundle.mjs builds it with
 * this esbuild plugin): modules that most runs never use are left out of the
 * bundle or loaded on first use, so a plain run does not pay for them.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";

const require = createRequire(import.meta.url);

/**
 * Built-in modules that most runs never call, but that a dependency or dray
 * itself imports at load time. Each is replaced by an object of getters that
 * loads the real module on first use: commander imports child_process for
 * executable subcommands (which dray has none of), credential helpers need it
 * only when configured, zlib only when a layer is decompressed, fs/promises
 * (which loads node's readline with it: 5 modules, ~1.6 ms) only when a run
 * reads or writes files, which a registry-only run such as `dray inspect
 * docker://…` does not.
 */
export const LAZY_BUILTINS: readonly string[] = ["child_process", "zlib", "fs/promises"];

/** A CommonJS module whose every export loads `name` on first access. */
function lazyBuiltinSource(name: string): string {
  const keys = Object.keys(require(`node:${name}`) as object);
  const lines = [
    "let loaded;",
    `const load = () => (loaded ??= require(${JSON.stringify(`node:${name}`)}));`,
    ...keys.map(
      (k) => `Object.defineProperty(exports, ${JSON.stringify(k)}, { enumerable: true, get: () => load()[${JSON.stringify(k)}] });`,
    ),
  ];
  return lines.join("\n");
}

/**
 * The plugin. `undiciIndex`: undici's index stays in node_modules (the npm
 * package); false for the single executable, which has no node_modules and
 * bundles it (it is still evaluated only behind a proxy).
 */
export function startupPlugin({ undiciIndex }: { undiciIndex: boolean }): Plugin {
  return {
    name: "dray-startup",
    setup(b) {
      // undici's index (fetch, WebSocket, proxies) is needed only behind an HTTP
      // proxy: it stays in node_modules. The parts dray always uses (dispatcher,
      // request API) are bundled: the registry transport's undici loader is
      // swapped for the slim one (undici.cts here). (esbuild's `external`
      // would take subpaths too.)
      if (undiciIndex) b.onResolve({ filter: /^undici$/ }, (args) => ({ path: args.path, external: true }));
      b.onResolve({ filter: /^\.\/undici\.cjs$/ }, (args) => {
        if (!args.importer.endsWith(join("transport", "registry", "http", "http.js"))) return undefined;
        return { path: join(dirname(fileURLToPath(import.meta.url)), "undici.cjs") };
      });

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
}
