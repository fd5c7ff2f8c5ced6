// dray resolves a destination's symlinks itself (an archive is written
// beside the file a link names and renamed over it), so the kernel's
// protected_symlinks rule never gets to apply. This applies it: in a sticky
// folder anyone may write to (/tmp), a link is followed only when its owner
// is the user or the folder's owner. Another user's link there may point at
// any file of the user's choosing; following it would overwrite that file
// (as root: any file).
import type { Stats } from "node:fs";
import { lstat, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { IoError } from "../errors.js";

/** Throws when `path` is a symlink another user planted in a sticky, world-writable folder; `what` starts the message. */
export async function checkLinkMayBeFollowed(path: string, what: string): Promise<void> {
  const link = await lstat(path).catch(() => undefined);
  if (link) await checkLinkStatsMayBeFollowed(path, link, what);
}

/** The same rule for a link already looked at (`link` from lstat), so the check and what it checked are one look. */
export async function checkLinkStatsMayBeFollowed(path: string, link: Stats, what: string): Promise<void> {
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  if (uid === undefined || !link.isSymbolicLink() || link.uid === uid) return;
  const folder = dirname(resolve(path));
  const dir = await stat(folder).catch(() => undefined);
  if (!dir || (dir.mode & 0o1000) === 0 || (dir.mode & 0o002) === 0 || dir.uid === link.uid) return;
  throw new IoError(
    `${what}: it is a symbolic link of user ${link.uid} in ${folder}, a sticky folder anyone may write to; ` +
      "dray does not follow another user's link there (the kernel's protected_symlinks rule): remove it or write elsewhere",
    { where: path },
  );
}

/**
 * Checks that `path` still names `real`, the folder realpath found, with
 * one look at `path`. A layout destination is checked with
 * checkLinkMayBeFollowed, made (mkdir -p), then resolved: another user who
 * swaps a link in after the check (in /tmp, where the kernel's
 * protected_symlinks may be off) would otherwise have every write of the
 * layout land where the link points (won 6 of 70 runs with ln/rm in a loop). A link now there must pass the same
 * rule; a folder must be the very one found.
 */
export async function checkStillNamed(path: string, real: string, what: string): Promise<void> {
  const named = await lstat(path);
  await checkLinkStatsMayBeFollowed(path, named, what);
  // A link that passed is the user's or the folder owner's: nobody else can change where it points.
  const now = named.isSymbolicLink() ? await stat(path) : named;
  const found = await stat(real);
  if (now.ino !== found.ino || now.dev !== found.dev) {
    throw new IoError(`${what}: it changed while dray opened it (another process swapped a link or folder in)`, {
      where: path,
    });
  }
}
