#!/usr/bin/env node
// Thin shim: everything lives in the compiled library (dist/), loaded lazily per command.
import { main } from "../dist/src/cli/main.js";

main(process.argv).then((code) => {
  process.exitCode = code;
});
