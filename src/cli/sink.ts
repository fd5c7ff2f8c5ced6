import { constants, createWriteStream } from "node:fs";
import { open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { basename, dirname } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DrayError, IoError, fsReason, isAbortError } from "../errors.js";
import { FileSink } from "../transport/file-io.js";
import { sweepDeadTemporaries, temporaryNameBeside } from "../transport/temporaries.js";
import { defined } from "../defined.js";

/**
 * Writes `data` to `path` through a temporary file beside it (same file
 * system, so the rename is atomic) and renames it into place only after
 * `data` ended without error: a digest mismatch, a refused layer or an
 * interrupt leaves the old file (or none) and no temporary behind. A path
 * that is not a regular file (/dev/null, /dev/full, a FIFO) is written
 * into, as tar and crane do: a file renamed over a device would replace it.
 */
export async function writeFileAtomically(data: Readable, path: string, signal?: AbortSignal, onWaitForReader?: () => void): Promise<void> {
  const cannotWrite = (err: unknown): unknown =>
    inWords(err, () => new IoError(`cannot write ${path}: ${fsReason(err)}`, { where: path, cause: err }));
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile()) {
    try {
      const fifo = existing.isFIFO() ? await openFifoWithReader(path, signal, onWaitForReader) : undefined;
      const out = fifo ? fifo.createWriteStream() : createWriteStream(path, { flags: "w" });
      await pipeline(data, out, signal ? { signal } : {});
    } catch (err) {
      throw cannotWrite(err);
    }
    return;
  }
  await sweepDeadTemporaries(dirname(path));
  const tmp = temporaryNameBeside(dirname(path), basename(path));
  try {
    await pipeline(data, new FileSink(tmp, 0o644), signal ? { signal } : {});
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw cannotWrite(err);
  }
}

/**
 * Opens a FIFO for writing once it has a reader. A blocking open of a FIFO
 * nobody reads waits in a libuv worker thread that no signal reaches, and the
 * process then cannot even exit (libuv joins its threads at exit): dray
 * ignored SIGINT and SIGTERM until SIGKILL. A non-blocking open says ENXIO at
 * once instead; it is tried again every FIFO_POLL_MS, and the run's signal
 * ends the wait. Once one succeeds, the blocking open returns at once, and it
 * is made before the probe closes: a reader that saw its only writer close
 * would read end-of-file. `onWait` is called once, when the first try finds no reader.
 */
async function openFifoWithReader(path: string, signal?: AbortSignal, onWait?: () => void): Promise<FileHandle> {
  for (let first = true; ; first = false) {
    let probe: FileHandle | undefined;
    try {
      probe = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENXIO") throw err;
      if (first) onWait?.();
    }
    if (probe) {
      try {
        return await open(path, "w");
      } finally {
        await probe.close();
      }
    }
    await sleep(FIFO_POLL_MS, undefined, defined({ signal }));
  }
}

const FIFO_POLL_MS = 100;

/**
 * Pipes `data` into `out` (stdout) without ending it, so a later message or
 * the process exit closes it; a failure part-way destroys `data`. A reader
 * gone (EPIPE) stays as it is: the CLI ends quietly with SIGPIPE's status.
 */
export async function writeToStream(data: Readable, out: Writable, signal?: AbortSignal): Promise<void> {
  await pipeline(data, out, { end: false, ...defined({ signal }) }).catch((err: unknown) => {
    throw (err as NodeJS.ErrnoException).code === "EPIPE"
      ? err
      : inWords(err, () => new IoError(`cannot write to standard output: ${fsReason(err)}`, { cause: err }));
  });
}

/** A file-system error (ENOSPC, EIO…) as one line in words; dray's own errors and aborts as they are. */
function inWords(err: unknown, words: () => DrayError): unknown {
  if (err instanceof DrayError || isAbortError(err) || !(err instanceof Error) || !("syscall" in err)) return err;
  return words();
}
