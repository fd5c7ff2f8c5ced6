// Builds the undici floor (undici-floor.cts) the way scripts/bundle.mjs builds
// dray: one esbuild bundle with the start-up plugin, so the floor loads undici
// exactly as dray does (no index, node:http2 only if h2 is negotiated) and
// what it costs is what no client built on undici avoids.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { startupPlugin } from "../src/cli/startup/bundle-plugin.mjs";

/** Writes the floor's bundle into `dir` and returns its path. */
export async function buildUndiciFloor(dir: string): Promise<string> {
  const outfile = join(dir, "undici-floor.cjs");
  await build({
    entryPoints: [fileURLToPath(new URL("./undici-floor.cjs", import.meta.url))],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // The launcher's fallback import of the unbundled CLI: never taken by the floor, and it is all of dray.
    external: ["../main.js"],
    plugins: [startupPlugin({ undiciIndex: true })],
    minifyWhitespace: true,
    minifySyntax: true,
    charset: "ascii",
    logLevel: "warning",
  });
  return outfile;
}
