// The place a file dray writes goes, checked before any work: `-o FILE`,
// `--digestfile`, and an archive destination (oci-archive:FILE,
// docker-archive:FILE, sync's mirror archive). What this finds is a usage
// error, exit 2: nothing was done and the user fixes the path. A write that
// fails once the transfer began is I/O, exit 1 (README, "Exit codes").
import { constants as fsConstants } from "node:fs";
import { access, open, stat, unlink } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { UsageError, fsReason } from "../errors.js";
import { temporaryNameBeside } from "./temporaries.js";

/**
 * Refuses, in one line beginning with `label` (`-o FILE`, `cannot write FILE`), a file at `path` that could
 * not be written: its folder missing or out of reach, a directory at `path`, a folder the user may not write
 * in or that takes no new files (/proc). Found after a whole image was read, these cost the whole transfer.
 */
export async function checkOutputPlace(path: string, label: string): Promise<void> {
  const dir = dirname(resolve(path));
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (st instanceof Error && (st.code === "EACCES" || st.code === "EPERM"))
    throw new UsageError(`${label}: cannot reach ${dir} (permission denied); choose a folder you can write in`, { where: path });
  if (st instanceof Error || !st.isDirectory())
    throw new UsageError(`${label}: the folder ${dir} does not exist; create it first or choose another folder`, { where: path });
  if ((await stat(path).catch(() => undefined))?.isDirectory())
    throw new UsageError(`${label} is a directory; give a file name`, { where: path });
  try {
    await access(dir, fsConstants.W_OK);
  } catch (err) {
    throw new UsageError(`${label}: cannot write in ${dir} (${fsReason(err)}); choose a folder you can write in`, {
      where: path,
      cause: err,
    });
  }
  await checkCanCreate(path, label, dir);
}

/**
 * The file is written under a temporary name beside it: one is made and removed now, so a folder that
 * takes no new files (/proc, /sys, a full disk's inode table) is said before the work, not as ENOENT after.
 * A device or FIFO named (/dev/null) is written into, not beside.
 */
async function checkCanCreate(path: string, label: string, dir: string): Promise<void> {
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile()) return;
  const probe = temporaryNameBeside(dir, basename(path));
  try {
    await (await open(probe, "wx", 0o600)).close();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "the file system takes no new files there" : fsReason(err);
    throw new UsageError(`${label}: cannot create a file in ${dir} (${why}); choose another folder`, { where: path, cause: err });
  }
  await unlink(probe).catch(() => undefined);
}
