// dray's temporaries, and the sweep of those a dead dray left behind.
//
// Where they go. Work files of a run (standard input saved for random access,
// layers spooled while recompressed, blobs spooled for an archive on stdout)
// go into a per-user folder, `$TMPDIR/dray-UID`, made 0700 and used only
// when it is a folder of this user's own (as the compile cache checks its
// folder): in a shared /tmp nobody else can read, plant or swap anything
// there. What must sit beside a destination to be renamed over it (an
// archive's temporary, a spool folder on the same disk, `-o FILE`'s
// temporary) stays beside it.
//
// The sweep. SIGINT/SIGTERM/SIGHUP clean up on the way out, SIGKILL (and a
// power cut) cannot: every temporary name carries the writer's pid (see
// uniqueSuffix), so a later run that writes into the same folder removes
// those whose process is gone. It removes only what this user owns and never
// follows a link: another user may name a file or link like a dray temporary
// in a shared folder, and a recursive delete of it (or one redirected by a
// link swapped in half-way) would let that user make dray, or root running
// dray, delete any file. A folder is first moved into a private folder of
// this run's own and checked to be the one looked at, so nothing inside can
// be swapped while it is removed.
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rmdir, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IoError } from "../errors.js";
import { errnoCode, isPidAlive, writeError } from "./layout/fsutil.js";

/** Kinds of temporary folders a run makes (`.dray-KIND-PID-…`). */
export type TemporaryKind = "stdin" | "spool" | "recompress" | "mirror";

/**
 * The pid in a dray temporary's name, or undefined for any other name:
 * `.dray-tmp-PID-HEX` (layout files), `.dray-spool-PID-…`, `.dray-stdin-PID-…`,
 * `.dray-recompress-PID-…`, `.dray-mirror-PID-…` and `.dray-trash-PID-…` (folders), and
 * `.NAME.dray-PID-HEX.tmp` (a file being written beside its target).
 */
export function temporaryOwner(name: string): number | undefined {
  const m = /^\.dray-(?:tmp|spool|stdin|recompress|mirror|trash)-(\d+)-/.exec(name) ?? /^\..+\.dray-(\d+)-[0-9a-f]+\.tmp$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

function currentUid(): number | undefined {
  return typeof process.getuid === "function" ? process.getuid() : undefined;
}

let privateDir: Promise<string> | undefined;

/**
 * `$TMPDIR/dray-UID`: made 0700 when missing, refused when it is a link, not
 * a folder, or another user's (someone who made it first could read or swap
 * what dray puts there); a folder of ours that others may enter is made
 * private again.
 */
export function privateTempDir(): Promise<string> {
  privateDir ??= makePrivateDir().catch((err: unknown) => {
    privateDir = undefined;
    throw err;
  });
  return privateDir;
}

async function makePrivateDir(): Promise<string> {
  const uid = currentUid();
  const dir = join(tmpdir(), `dray-${uid ?? "user"}`);
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    const code = errnoCode(err);
    // The missing or wrong part is TMPDIR itself, not the dray-UID folder in it.
    if (code === "ENOENT" || code === "ENOTDIR")
      throw new IoError(`cannot create dray's temporary folder ${dir}: ${tmpdir()} is not a folder (set TMPDIR to a folder of your own)`, {
        where: dir,
        cause: err,
      });
    if (code !== "EEXIST") throw writeError(err, "cannot create dray's temporary folder", dir);
  }
  const st = await lstat(dir).catch((err: unknown) => {
    throw writeError(err, "cannot use dray's temporary folder", dir);
  });
  const fix = "remove it, or set TMPDIR to a folder of your own";
  if (st.isSymbolicLink())
    throw new IoError(`dray's temporary folder ${dir} is a symbolic link, which dray does not follow: ${fix}`, { where: dir });
  if (!st.isDirectory()) throw new IoError(`dray's temporary folder ${dir} is not a folder: ${fix}`, { where: dir });
  if (uid !== undefined && st.uid !== uid) {
    throw new IoError(`dray's temporary folder ${dir} belongs to user ${st.uid}, not to you (${uid}): ${fix}`, { where: dir });
  }
  if ((st.mode & 0o077) !== 0) await chmod(dir, 0o700);
  return dir;
}

/**
 * A new temporary folder `.dray-KIND-PID-…` (0700) in `parent`, by default
 * the per-user folder; dead runs' temporaries there are swept first.
 */
export async function makeTemporaryFolder(kind: TemporaryKind, parent?: string): Promise<string> {
  const where = parent ?? (await privateTempDir());
  await sweepDeadTemporaries(where);
  try {
    return await mkdtemp(join(where, `.dray-${kind}-${process.pid}-`));
  } catch (err) {
    // ENOENT from a folder that is there: a pseudo file system (/proc, /sys) that takes no new files.
    if (errnoCode(err) === "ENOENT" && (await lstat(where).catch(() => undefined))?.isDirectory())
      throw new IoError(`cannot create a temporary folder in ${where}: the file system takes no new files there`, { where, cause: err });
    throw writeError(err, "cannot create a temporary folder in", where);
  }
}

/** A name beside `file` for writing it under: `.NAME.dray-PID-HEX.tmp` (swept when its writer is gone). */
export function temporaryNameBeside(dir: string, name: string): string {
  return join(dir, `.${name}.dray-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
}

/**
 * Removes the temporaries of processes that no longer run from `dir`, only
 * those this user owns (see the top of this file). Best effort: an
 * unreadable folder or an entry another run removes first is not an error.
 * Pids are those of this host (a folder shared between machines could hold a
 * live writer's file under a pid unknown here; dray's layouts guard that case
 * with host-stamped writer markers, see layout.ts).
 */
export async function sweepDeadTemporaries(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const pid = temporaryOwner(name);
    if (pid === undefined || pid === process.pid || isPidAlive(pid)) continue;
    if (await removeOwnTemporary(dir, name)) removed++;
  }
  return removed;
}

/** Whether `st` is this user's own (everything is, where there are no uids). */
function ours(st: Stats): boolean {
  const uid = currentUid();
  return uid === undefined || st.uid === uid;
}

/**
 * Removes `dir/name` when this user owns it, never following a link: a file
 * or link is unlinked (the name goes, never what a link points at); a folder
 * that only its owner may change is moved into a private folder first, checked
 * to be the same folder, and removed there. Anything else stays.
 */
export async function removeOwnTemporary(dir: string, name: string): Promise<boolean> {
  const path = join(dir, name);
  const st = await lstat(path).catch(() => undefined);
  if (!st || !ours(st)) return false;
  if (!st.isDirectory())
    return unlink(path).then(
      () => true,
      () => false,
    );
  // A folder others may write into could hold their links: left alone (dray makes its own 0700).
  if ((st.mode & 0o022) !== 0) return false;
  let trash: string;
  try {
    trash = await mkdtemp(join(dir, `.dray-trash-${process.pid}-`));
  } catch {
    return false;
  }
  const moved = join(trash, "x");
  try {
    await rename(path, moved);
    const now = await lstat(moved);
    if (now.ino !== st.ino || now.dev !== st.dev || !ours(now)) {
      // Swapped between the look and the move: not ours to delete; put back what was moved.
      await rename(moved, path).catch(() => undefined);
      await rmdir(trash).catch(() => undefined);
      return false;
    }
  } catch {
    await rmdir(trash).catch(() => undefined);
    return false;
  }
  return removeTree(trash);
}

/**
 * Removes a folder tree inside a private folder (nobody else can change it
 * meanwhile), entry by entry: links are unlinked, never followed, and an
 * entry of another user's stays, with the folders that hold it.
 */
async function removeTree(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return true;
  if (!ours(st)) return false;
  if (!st.isDirectory())
    return unlink(path).then(
      () => true,
      () => false,
    );
  const names = await readdir(path).catch(() => [] as string[]);
  let all = true;
  for (const name of names) if (!(await removeTree(join(path, name)))) all = false;
  return (
    all &&
    (await rmdir(path).then(
      () => true,
      () => false,
    ))
  );
}
