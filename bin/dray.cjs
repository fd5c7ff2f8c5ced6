#!/usr/bin/env node
// Thin shim. CommonJS on purpose: an ES module entry makes Node set up its ES
// module loader first (~6 ms of every run). How the CLI starts (V8 flags,
// compile cache, the bundle) is src/cli/startup/'s business;
// DRAY_STARTUP_OFF=all turns all of it off (src/cli/startup/switches.cts).
"use strict";
// First: a Ctrl-C or SIGTERM while the CLI loads ends dray with its one line, not silently; main's handlers
// take over (src/cli/startup/stop-signals.cts, which names the same signals and symbol).
const earlyStop = (sig) => require("../dist/src/cli/startup/stop-signals.cjs").stopEarly(sig);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, earlyStop);
globalThis[Symbol.for("dray.earlyStopListener")] = earlyStop;
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

let switches;
try {
  switches = require("../dist/src/cli/startup/switches.cjs");
} catch (err) {
  if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes("switches.cjs")) {
    // A clone linked onto the PATH (`npm install -g .`) before it was built.
    const root = join(__dirname, "..");
    process.stderr.write(`dray: ${root} is not built: run \`npm ci && npm run build\` there, or install a packed copy (README: Install)\n`);
    process.exit(1);
  }
  throw err;
}
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V") && !switches.tricksOff().has("version")) {
  // Scripts call `dray --version` to probe for the tool: answer without loading the CLI.
  process.stdout.write(`${JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version}\n`);
} else {
  require("../dist/src/cli/startup/launch.cjs")
    .start(process.argv)
    .then((code) => {
      process.exitCode = code;
    });
}
