// File-system helpers for the layout transport: reads capped in size, paths
// proven to stay inside a root, atomic replace, and process liveness. Kept
// apart from the layout logic so the archive transport can reuse them.
import { randomBytes } from "node:crypto";
import { mkdir, open, realpath, rename, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join, relative, isAbsolute, resolve, sep } from "node:path";
import { IntegrityError, IoError, NotFoundError, UsageError, fsReason } from "../../errors.js";

export function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

export function isNotFound(err: unknown): boolean {
  return errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR";
}

/** `WHAT PATH: REASON`, or `WHAT: REASON` when `what` names the path already. */
function describeFsError(err: unknown, what: string, path: string): string {
  return what.includes(path) ? `${what}: ${fsReason(err)}` : `${what} ${path}: ${fsReason(err)}`;
}

/**
 * Wraps a Node file-system error met while READING a location as a
 * DrayError naming the path: a missing file is "not found" (exit 3),
 * anything else an I/O failure (exit 1). This and writeError are the one
 * place errno codes become dray's errors.
 */
export function ioError(err: unknown, what: string, path: string): IoError | NotFoundError {
  if (isNotFound(err)) return new NotFoundError(`${what}: ${path} does not exist`, { where: path, cause: err });
  return new IoError(describeFsError(err, what, path), { where: path, cause: err });
}

/**
 * Wraps a Node file-system error met while WRITING a destination: always an
 * I/O failure (exit 1), a missing folder included (the image was not
 * "not found"; the place to put it is missing).
 */
export function writeError(err: unknown, what: string, path: string): IoError {
  if (isNotFound(err)) return new IoError(`${what}: ${path} does not exist`, { where: path, cause: err });
  return new IoError(describeFsError(err, what, path), { where: path, cause: err });
}

/** The refusal of a directory named where an archive (a file) belongs: a usage error (exit 2). */
export function archiveIsDirectory(path: string): UsageError {
  return new UsageError(`${path} is a directory; an archive is a file (use oci:${path} for a layout folder)`, {
    code: "E_LOCATION_INVALID",
    where: path,
  });
}

/** True when `child` is `root` or below it (both already resolved, absolute). */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * Resolves symlinks in `path` and refuses the result unless it lies inside
 * `realRoot`: a layout whose blob (or blobs folder) is a symlink to
 * /etc/shadow must not be read or written through.
 */
export async function realPathInside(realRoot: string, path: string, where: string): Promise<string> {
  const real = await realpath(path);
  if (!isInside(realRoot, real)) {
    throw new IntegrityError(`${where} resolves outside the layout (${real})`, { code: "E_UNSAFE_INPUT", where: path });
  }
  return real;
}

/**
 * Reads a whole file, refusing it once it passes `max` bytes without
 * reading further (an index.json of 10 GB is an attack, not a layout).
 */
export async function readFileCapped(path: string, max: number, what: string): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new IntegrityError(`${what} is not a regular file`, { code: "E_UNSAFE_INPUT", where: path });
    if (st.size > max) throw tooLarge(what, path, max);
    const chunks: Buffer[] = [];
    let total = 0;
    // Read until EOF rather than trusting st.size: the file may grow meanwhile.
    for (;;) {
      const buf = Buffer.alloc(Math.min(64 * 1024, max + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw tooLarge(what, path, max);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close();
  }
}

function tooLarge(what: string, path: string, max: number): IntegrityError {
  return new IntegrityError(`${what} is larger than the ${max}-byte limit`, { code: "E_TOO_LARGE", where: path });
}

/** A name no other writer picks: pid (so stale ones can be recognised) plus randomness. */
export function uniqueSuffix(): string {
  return `${process.pid}-${randomBytes(6).toString("hex")}`;
}

/**
 * Replaces `path` atomically: the bytes go to a temporary file in `tmpDir`
 * (same file system) and are renamed over the target, so a reader sees the
 * old file or the new one, never a mix.
 */
export async function atomicWriteFile(path: string, data: string | Uint8Array, tmpDir = dirname(path), prefix = ".tmp-"): Promise<void> {
  const tmp = join(tmpDir, `${prefix}${uniqueSuffix()}`);
  try {
    await writeFile(tmp, data, { flag: "wx", mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Whether a process with this pid runs on this host (EPERM means it exists but is not ours). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}

export const HOSTNAME = hostname();

/**
 * Removes `dir` and its parents up to `top` (inclusive) while each is empty:
 * the folders a run made with mkdir -p, once what it put in them is gone.
 * A folder something else has meanwhile written into stays.
 */
export async function removeEmptyFolders(dir: string, top: string): Promise<void> {
  for (let d = dir; isInside(top, d); d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}

/**
 * `mkdir -p`, returning the first folder made (undefined when `path` existed), as
 * `mkdir(path, { recursive: true })` does. Node's own loops forever, at full CPU and
 * deaf to SIGTERM, where a folder cannot be made although its parent exists
 * (`oci:/proc/x`: ENOENT, then EEXIST for /proc, again and again); here each
 * missing folder is made once, bottom-up, and the first refusal is thrown.
 */
export async function makeDirs(path: string): Promise<string | undefined> {
  const missing: string[] = []; // deepest first
  let made: string | undefined;
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      await mkdir(dir);
      made = dir;
      break;
    } catch (err) {
      const code = errnoCode(err);
      if (code === "EEXIST" && missing.length > 0) break;
      if (code === "EEXIST" && (await stat(dir)).isDirectory()) return undefined;
      if (code !== "ENOENT" || dirname(dir) === dir) throw err;
      missing.push(dir);
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
      made ??= dir;
    } catch (err) {
      // Another writer of the same run (sync's repositories share parents) made it first: a folder is what was wanted.
      if (errnoCode(err) !== "EEXIST" || !(await stat(dir)).isDirectory()) throw err;
    }
  }
  return made;
}
