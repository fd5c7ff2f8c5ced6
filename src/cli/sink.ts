import { createWriteStream } from "node:fs";
import { rename, stat, unlink } from "node:fs/promises";
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
export async function writeFileAtomically(data: Readable, path: string, signal?: AbortSignal): Promise<void> {
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile()) {
    await pipeline(data, createWriteStream(path, { flags: "w" }), signal ? { signal } : {}).catch((err: unknown) => {
      throw inWords(err, () => new IoError(`cannot write ${path}: ${fsReason(err)}`, { where: path, cause: err }));
    });
    return;
  }
  await sweepDeadTemporaries(dirname(path));
  const tmp = temporaryNameBeside(dirname(path), basename(path));
  try {
    await pipeline(data, new FileSink(tmp, 0o644), signal ? { signal } : {});
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw inWords(err, () => new IoError(`cannot write ${path}: ${fsReason(err)}`, { where: path, cause: err }));
  }
}

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
