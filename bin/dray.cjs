#!/usr/bin/env node
// Thin shim. CommonJS on purpose: an ES module entry makes Node set up its ES
// module loader first (~6 ms of every run). How the CLI starts (V8 flags,
// compile cache, the bundle) is src/cli/startup/'s business.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // Scripts call `dray --version` to probe for the tool: answer without loading the CLI.
  process.stdout.write(`${JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version}\n`);
} else {
  require("../dist/src/cli/startup/launch.cjs")
    .start(process.argv)
    .then((code) => {
      process.exitCode = code;
    });
}
