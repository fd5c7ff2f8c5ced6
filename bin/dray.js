#!/usr/bin/env node
// Thin shim: everything lives in the compiled library (dist/), loaded lazily per command.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // Scripts call `dray --version` to probe for the tool: answer without
  // loading commander and the command table (half of the start-up time).
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`${pkg.version}\n`);
} else {
  // undici parses HTTP with a WebAssembly build of llhttp. V8's optimising tier
  // recompiles it in the background, which costs ~35 MiB of peak memory and
  // keeps a short-lived CLI waiting at exit; the baseline tier is fast enough
  // for header parsing (measured: peak RSS 100 -> 65 MiB for one request).
  setFlagsFromString("--liftoff-only");
  const { main } = await import("../dist/src/cli/main.js");
  process.exitCode = await main(process.argv);
}
