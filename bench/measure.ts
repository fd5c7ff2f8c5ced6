// One timed child process: wall time measured here (spawn to exit, with
// hrtime), peak resident memory and CPU time measured by GNU time
// (`/usr/bin/time -f "%M %U %S"`: the child's ru_maxrss in KiB, for a
// pipeline under `sh -c` the largest process of it; user and system seconds
// of the child and its children). CPU time is what a loaded machine distorts
// least, so it is reported beside the wall time. The child's stdout goes to /dev/null, as a user
// would redirect it; the tail of stderr is kept to explain a failure.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";

export const GNU_TIME = "/usr/bin/time";

export interface Command {
  /** Executable (absolute path or name on PATH). */
  file: string;
  args: string[];
}

export interface Sample {
  ms: number;
  /** Peak resident set size of the child in KiB; undefined when GNU time could not tell. */
  rssKiB: number | undefined;
  /** User + system CPU time of the child in ms; undefined when GNU time could not tell. */
  cpuMs: number | undefined;
  code: number;
  /** Last part of stderr, for a failure message. */
  stderrTail: string;
}

const STDERR_KEEP = 2000;

export function requireGnuTime(): void {
  try {
    accessSync(GNU_TIME, constants.X_OK);
  } catch {
    throw new Error(`${GNU_TIME} not found: peak memory needs GNU time (apt-get install -y time)`);
  }
}

/** Runs `cmd` under GNU time with `env`; never throws for a non-zero exit. */
export async function runTimed(cmd: Command, env: NodeJS.ProcessEnv, scratchDir: string, timeoutMs: number): Promise<Sample> {
  const rssFile = join(scratchDir, `rss-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const args = ["-f", "%M %U %S", "-o", rssFile, cmd.file, ...cmd.args];
  let stderr = "";
  const start = process.hrtime.bigint();
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(GNU_TIME, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stderr.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString("utf8")).slice(-STDERR_KEEP);
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (exitCode, signal) => {
      clearTimeout(timer);
      resolve(exitCode ?? (signal ? 128 : 1));
    });
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  let rssKiB: number | undefined;
  let cpuMs: number | undefined;
  try {
    // GNU time writes "Command exited with non-zero status N" before the format line on failure.
    const lines = (await readFile(rssFile, "utf8")).trim().split("\n");
    const [rss, user, sys] = (lines[lines.length - 1] ?? "").trim().split(/\s+/).map(Number);
    rssKiB = rss !== undefined && Number.isFinite(rss) && rss > 0 ? rss : undefined;
    cpuMs = user !== undefined && sys !== undefined && Number.isFinite(user + sys) ? (user + sys) * 1000 : undefined;
  } catch {
    rssKiB = undefined;
  }
  await rm(rssFile, { force: true });
  return { ms, rssKiB, cpuMs, code, stderrTail: stderr.trim() };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
