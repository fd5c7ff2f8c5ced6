// A small file a flag names to be read (a public or signing key, a trusted root, a certificate): a regular file,
// or a pipe, FIFO or character device (`--key <(openssl pkey …)`, /dev/stdin), which is read once, to its end.
import { closeSync, constants, openSync, readFileSync, readSync, readlinkSync, statSync } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { UsageError, whyUnreadable } from "./errors.js";
import { quote } from "./ref/reference.js";

/**
 * The bytes of `path`, refused in words (exit 2, `WHAT "PATH" …`): missing, unreadable, a directory, or more
 * than `max` bytes (a pipe is read no further than that).
 */
export async function readInputFile(path: string, what: string, max: number): Promise<Buffer> {
  const name = `${what} ${quote(path)}`;
  // A pipe is opened and read without blocking (readPipe): a blocking open or read of a FIFO no one writes waits
  // in a libuv worker thread, and the process then cannot even exit on Ctrl-C (libuv joins its threads at exit).
  const pipe = (await stat(path).catch(() => undefined))?.isFIFO() === true;
  let fh: FileHandle;
  try {
    fh = await open(path, pipe ? constants.O_RDONLY | constants.O_NONBLOCK : "r");
  } catch (err) {
    throw new UsageError(`${name} ${whyUnreadable(err)}`, { where: path });
  }
  const tooLarge = (): UsageError => new UsageError(`${name} is larger than ${max} bytes`, { where: path });
  try {
    const info = await fh.stat();
    if (info.isDirectory()) throw new UsageError(`${name} is a directory, not a file`, { where: path });
    if (info.isFile() && info.size > max) throw tooLarge();
    const named = pipe && !isAnonymousPipe(fh.fd);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buffer = Buffer.alloc(64 * 1024);
      const bytesRead = pipe ? await readPipe(fh, buffer, named && total === 0) : (await fh.read(buffer, 0, buffer.length, null)).bytesRead;
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw tooLarge();
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${name} cannot be read${code ? ` (${code})` : ""}`, { where: path, cause: err });
  } finally {
    await fh.close();
  }
}

const PIPE_POLL_MS = 50;

/**
 * One read of a pipe opened non-blocking, waiting (between tries, on the event loop, where a signal ends the run)
 * while nothing is there yet: EAGAIN while the writer has not written, and end-of-file while a named FIFO has
 * no writer yet (`waitForWriter`; a pipe from `<(…)` had its writer from the start, so its end-of-file is the end).
 */
async function readPipe(fh: FileHandle, buffer: Buffer, waitForWriter: boolean): Promise<number> {
  for (;;) {
    try {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead > 0 || !waitForWriter) return bytesRead;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
    }
    await sleep(PIPE_POLL_MS);
  }
}

/** Whether `fd` is a pipe with no name (`<(…)`, /dev/fd/N: "pipe:[…]" in /proc), not a FIFO in a folder. */
function isAnonymousPipe(fd: number): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith("pipe:");
  } catch {
    return false;
  }
}

/** The signals that stop a run (src/cli/startup/stop-signals.cts names the same: this layer may not import the CLI's). */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Credentials and PEM certificates are small: a pipe giving more is not one. */
const MAX_TEXT_PIPE_BYTES = 4 * 1024 * 1024;

/**
 * A small file's text read synchronously (a credential, a CA or client certificate, read where no await fits), for
 * a pipe or FIFO with dray's stop handlers taken off while it blocks: a FIFO no one writes blocks the main thread,
 * where no handler can run, and Ctrl-C or SIGTERM did nothing until SIGKILL. With the default action the signal
 * ends dray at once (status 130/143), before anything was written. Throws Node's errors, as readFileSync does.
 */
export function readTextFileSync(path: string, max = MAX_TEXT_PIPE_BYTES): string {
  if (statSync(path).isFile()) return readFileSync(path, "utf8");
  const kept = STOP_SIGNALS.map((sig) => [sig, process.listeners(sig)] as const);
  for (const sig of STOP_SIGNALS) process.removeAllListeners(sig);
  const fd = openSync(path, "r");
  try {
    // A pipe is read no further than `max` (`--creds-file <(yes)` filled the memory until the process aborted).
    const chunks: Buffer[] = [];
    for (let total = 0; ;) {
      const buffer = Buffer.alloc(64 * 1024);
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) return Buffer.concat(chunks).toString("utf8");
      total += n;
      if (total > max) throw new Error(`it is a pipe holding more than ${max} bytes`);
      chunks.push(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
    for (const [sig, listeners] of kept) for (const l of listeners) process.on(sig, l);
  }
}
