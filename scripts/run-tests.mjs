#!/usr/bin/env node
// Runs every compiled *.test.js under dist/test with node's test runner.
// (Node 20's `--test DIR` would also run helper modules that live under test/.)
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(full));
    else if (entry.name.endsWith(".test.js")) out.push(full);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = findTests("dist/test")
  .filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)))
  .sort();
if (files.length === 0) {
  console.error("no test files found under dist/test");
  process.exit(1);
}
const reporter = process.env.TEST_REPORTER ?? "spec";
const result = spawnSync(process.execPath, ["--test", `--test-reporter=${reporter}`, "--test-concurrency=2", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
