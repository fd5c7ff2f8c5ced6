#!/usr/bin/env node
// Thin shim. CommonJS on purpose: an ES module entry makes Node set up its ES
// module loader first (~6 ms of every run).
"use strict";
const { existsSync, readFileSync } = require("node:fs");
const { join } = require("node:path");

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // Scripts call `dray --version` to probe for the tool: answer without loading the CLI.
  process.stdout.write(`${JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version}\n`);
} else {
  // undici parses HTTP with a WebAssembly build of llhttp. V8's optimising tier
  // recompiles it in the background, which costs ~35 MiB of peak memory and
  // keeps a short-lived CLI waiting at exit; the baseline tier is fast enough
  // for header parsing (measured: peak RSS 100 -> 65 MiB for one request).
  require("node:v8").setFlagsFromString("--liftoff-only");
  // gc() for src/memory.ts, which scavenges every few MiB streamed so that dead
  // socket buffers do not pile up (measured: 500 MB layer peak RSS 97 -> 74 MiB).
  require("node:v8").setFlagsFromString("--expose-gc");
  const bundle = join(__dirname, "..", "dist", "dray.cjs");
  const run = existsSync(bundle)
    ? require("../dist/src/cli/launch.cjs").launch(bundle, process.argv)
    : // Built with tsc only (no bundle): run the modules as they are.
      import("../dist/src/cli/main.js").then(({ main }) => main(process.argv));
  run.then((code) => {
    process.exitCode = code;
  });
}
