#!/usr/bin/env node
// Runs every compiled *.test.js under dist/test with node's test runner.
// (Node 20's `--test DIR` would also run helper modules that live under test/.)
//
// The spec reporter writes to stdout; scripts/test-tally.mjs counts beside it.
// A test file whose process was ended by a signal before a test of it failed
// (seen once in CI: `test failed` and nothing else, 235 ms in, on a 2-core
// machine) is named with its signal and run once more; a second end by a
// signal, like any failing test, fails the run. The last line is the count.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

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
const work = mkdtempSync(join(tmpdir(), "dray-test-tally-"));

/** One run of node's test runner over `list`; what ended, one entry per test. */
function runOnce(list, name) {
  const tallyFile = join(work, `${name}.jsonl`);
  const result = spawnSync(
    process.execPath,
    [
      "--test",
      `--test-reporter=${reporter}`,
      "--test-reporter-destination=stdout",
      `--test-reporter=${join(import.meta.dirname, "test-tally.mjs")}`,
      `--test-reporter-destination=${tallyFile}`,
      "--test-concurrency=2",
      ...list,
    ],
    { stdio: "inherit" },
  );
  let lines = [];
  try {
    lines = readFileSync(tallyFile, "utf8").split("\n").filter(Boolean);
  } catch {
    // No tally at all: the runner itself failed; its status says so below.
  }
  return { status: result.status, signal: result.signal, ended: lines.map((l) => JSON.parse(l)) };
}

try {
  const first = runOnce(files, "first");
  let ended = first.ended;
  let last = first;
  const killed = ended.filter((e) => e.kind === "killed");
  if (killed.length > 0) {
    const again = [...new Set(killed.map((e) => e.file))];
    console.log(
      `\n== ${again.length} test file(s) ended by a signal, not by a failing test; run once more:\n` +
        killed.map((e) => `   ${relative(process.cwd(), e.file)} (${e.signal})`).join("\n"),
    );
    const second = runOnce(again, "again");
    last = second;
    // What those files reported before their end is replaced by the second run's.
    ended = [...ended.filter((e) => !again.includes(e.file)), ...second.ended];
  }
  const count = (kind) => ended.filter((e) => e.kind === kind).length;
  let failed = count("failed") + count("killed") + count("cancelled");
  // A runner that failed with no failing test counted (interrupted by a signal from outside: it lists the files it
  // was running and stops) still fails the run, and is counted as one failure so the closing line says so.
  // (The first run's own non-zero status is expected when a file of it was ended by a signal and ran again.)
  const runnerFailed = first.status === null ? first : last.status !== 0 ? last : undefined;
  if (runnerFailed && failed === 0) {
    console.log(`
== the test runner ended (${runnerFailed.signal ?? `exit ${runnerFailed.status}`}) with no failing test counted: some tests never ran`);
    failed = 1;
  }
  const status = failed > 0 ? 1 : 0;
  console.log(`\ntests: ${count("passed")} passed, ${failed} failed, ${count("skipped")} skipped`);
  process.exitCode = status;
} finally {
  rmSync(work, { recursive: true, force: true });
}
