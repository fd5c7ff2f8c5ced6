// dray resolves a destination's symlinks itself (an archive is written
// beside the file a link names and renamed over it), so the kernel's
// protected_symlinks rule never gets to apply. This applies it: in a sticky
// folder anyone may write to (/tmp), a link is followed only when its owner
// is the user or the folder's owner. Another user's link there may point at
// any file of the user's choosing; following it would overwrite that file
// (as root: any file).
import { lstat, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { IoError } from "../errors.js";

/** Throws when `path` is a symlink another user planted in a sticky, world-writable folder; `what` starts the message. */
export async function checkLinkMayBeFollowed(path: string, what: string): Promise<void> {
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  if (uid === undefined) return;
  const link = await lstat(path).catch(() => undefined);
  if (!link?.isSymbolicLink() || link.uid === uid) return;
  const folder = dirname(resolve(path));
  const dir = await stat(folder).catch(() => undefined);
  if (!dir || (dir.mode & 0o1000) === 0 || (dir.mode & 0o002) === 0 || dir.uid === link.uid) return;
  throw new IoError(
    `${what}: it is a symbolic link of user ${link.uid} in ${folder}, a sticky folder anyone may write to; ` +
      "dray does not follow another user's link there (the kernel's protected_symlinks rule): remove it or write elsewhere",
    { where: path },
  );
}
