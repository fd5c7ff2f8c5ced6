// Temporary folders and process cleanup for tests: everything registered here
// is removed when the test file's tests end (also on failure), or at the
// latest, synchronously, when the process exits (crash, early exit).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

type SyncCleanup = () => void;

const exitCleanups = new Set<SyncCleanup>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const fn of [...exitCleanups].reverse()) {
      try {
        fn();
      } catch {
        // best effort: the process is going away anyway
      }
    }
    exitCleanups.clear();
  });
}

const pending = new Set<() => Promise<void>>();

async function runPending(): Promise<void> {
  for (const fn of [...pending].reverse()) {
    try {
      await fn();
    } catch {
      // keep cleaning the rest
    }
  }
}

// Registered once, at import time, on the root test: it runs after every test
// of the file has finished, failed or not. (Registering `after` later, from
// inside a helper, would attach it to whatever hook or test is running then,
// e.g. a `before` hook, and fire far too early.) Only under the test runner:
// in a plain script (a benchmark using the fixtures) `after` would start a
// test harness of its own; there the exit hook does the cleaning.
if (process.env.NODE_TEST_CONTEXT !== undefined || process.execArgv.includes("--test")) after(runPending);

/**
 * Registers `asyncFn` to run when the test file's tests have all ended (root
 * `after`), and `syncFn` to run at process exit if it has not run by then.
 * Returns a function that runs the cleanup now (idempotent), for suites that
 * want to release a resource early in their own `after`.
 */
export function onCleanup(asyncFn: () => Promise<void> | void, syncFn: SyncCleanup): () => Promise<void> {
  installExitHook();
  let done = false;
  const sync: SyncCleanup = () => {
    if (done) return;
    done = true;
    syncFn();
  };
  exitCleanups.add(sync);
  const run = async (): Promise<void> => {
    if (done) return;
    done = true;
    exitCleanups.delete(sync);
    pending.delete(run);
    await asyncFn();
  };
  pending.add(run);
  return run;
}

/** A fresh temporary folder, removed when the file's tests end and at exit. */
export function makeTempDir(prefix = "dray-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  onCleanup(remove, remove);
  return dir;
}

/**
 * Runs `fn` with a temporary folder that is removed when `fn` settles,
 * whether it resolves or throws.
 */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>, prefix = "dray-test-"): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A FIFO at `dir/name` that `cat` writes `file` into once, as bash's `<(…)` gives a command a pipe
 * (/dev/fd/N): what a flag reading a key or certificate from process substitution sees. The writer
 * is stopped when the file's tests end, in case nothing read it.
 */
export function fifoWith(file: string, dir: string, name: string): string {
  const fifo = join(dir, name);
  execFileSync("mkfifo", [fifo]);
  const writer = spawn("sh", ["-c", 'cat "$0" > "$1"', file, fifo], { stdio: "ignore" });
  const stop = (): void => void writer.kill();
  onCleanup(stop, stop);
  return fifo;
}
