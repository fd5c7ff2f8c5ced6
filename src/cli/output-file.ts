import { constants as fsConstants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { IoError, UsageError } from "../errors.js";

/**
 * An output file named on the command line (`copy --digestfile`, `export -o`,
 * `blob -o`) is checked before any work, in words: a missing folder or a
 * directory in its place is a usage error (exit 2), a folder the user may not
 * write in is exit 1 (README, "Exit codes"). Found after a whole image was
 * read, these cost the whole transfer and printed Node's EISDIR/ENOENT.
 */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  const dir = dirname(resolve(path));
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (st instanceof Error && (st.code === "EACCES" || st.code === "EPERM"))
    throw new IoError(`${flag} ${path}: cannot reach ${dir} (permission denied)`, { where: path });
  if (st instanceof Error || !st.isDirectory()) throw new UsageError(`${flag} ${path}: the folder ${dir} does not exist`, { where: path });
  if ((await stat(path).catch(() => undefined))?.isDirectory())
    throw new UsageError(`${flag} ${path} is a directory; give a file name`, { where: path });
  try {
    await access(dir, fsConstants.W_OK);
  } catch {
    throw new IoError(`${flag} ${path}: cannot write in ${dir} (permission denied)`, { where: path });
  }
}
