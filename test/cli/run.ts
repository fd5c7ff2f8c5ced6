// Runs the dray CLI as a child process, the way a user or a script does:
// real argv, real stdin/stdout/stderr, real exit code.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface DrayResult {
  code: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed (stdin is otherwise empty, never a terminal). */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** The child's stdout is this open file descriptor (a device such as a full disk's) instead of a pipe. */
  stdoutFd?: number;
  /** Run as this user (the tests run as root; a permission test must run as someone the kernel refuses). */
  user?: { uid: number; gid: number };
}

const fromSource = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(fromSource ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));
/** DRAY_EXE=PATH: the tests run the single executable (npm run build:exe) instead; .ci/run does so for a subset. */
const EXE = process.env.DRAY_EXE ? resolve(process.env.DRAY_EXE) : undefined;

/** `dray ARGS…`; resolves with what it printed and its exit code (never rejects for a non-zero exit). */
export async function dray(args: string[], opts: RunOptions = {}): Promise<DrayResult> {
  const nodeArgs = fromSource ? ["--import", "tsx", ENTRY, ...args] : [ENTRY, ...args];
  const child = spawn(EXE ?? process.execPath, EXE ? args : nodeArgs, {
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    cwd: opts.cwd,
    ...opts.user,
    stdio: ["pipe", opts.stdoutFd ?? "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (c: Buffer) => out.push(c));
  child.stderr!.on("data", (c: Buffer) => err.push(c));
  child.stdin!.on("error", () => undefined); // the CLI may exit before reading its input
  child.stdin!.end(opts.input ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const code = await new Promise<number>((resolve) => child.on("close", (c, signal) => resolve(c ?? (signal ? 128 : 1))));
  clearTimeout(timer);
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString("utf8"), stdoutBytes, stderr: Buffer.concat(err).toString("utf8") };
}

/** Like dray(), but throws with stderr unless the exit code is 0. */
export async function drayOk(args: string[], opts: RunOptions = {}): Promise<DrayResult> {
  const r = await dray(args, opts);
  if (r.code !== 0) throw new Error(`dray ${args.join(" ")} exited ${r.code}:\n${r.stderr}`);
  return r;
}
