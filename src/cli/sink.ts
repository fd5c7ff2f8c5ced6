import { rename, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { FileSink } from "../transport/file-io.js";
import { sweepDeadTemporaries, temporaryNameBeside } from "../transport/temporaries.js";

/**
 * Writes `data` to `path` through a temporary file beside it (same file
 * system, so the rename is atomic) and renames it into place only after
 * `data` ended without error: a digest mismatch, a refused layer or an
 * interrupt leaves the old file (or none) and no temporary behind.
 */
export async function writeFileAtomically(data: Readable, path: string, signal?: AbortSignal): Promise<void> {
  await sweepDeadTemporaries(dirname(path));
  const tmp = temporaryNameBeside(dirname(path), basename(path));
  try {
    await pipeline(data, new FileSink(tmp, 0o644), signal ? { signal } : {});
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Pipes `data` into `out` (stdout) without ending it, so a later message or
 * the process exit closes it; a failure part-way destroys `data`.
 */
export async function writeToStream(data: Readable, out: Writable, signal?: AbortSignal): Promise<void> {
  await pipeline(data, out, { end: false, ...(signal ? { signal } : {}) });
}
