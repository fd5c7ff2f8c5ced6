import { constants as fsConstants } from "node:fs";
import { access, open, stat, unlink } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { UsageError, fsReason } from "../errors.js";
import { temporaryNameBeside } from "../transport/temporaries.js";
import type { Readable } from "node:stream";
import type { CliContext } from "./context.js";
import { WriteStatus } from "./progress.js";
import { writeFileAtomically } from "./sink.js";

/**
 * An output file named on the command line (`copy --digestfile`, `export -o`,
 * `blob -o`) is checked before any work, in words. Whatever this check finds
 * (a missing folder, a directory in its place, a folder the user may not write
 * in, one that takes no new files) is a usage error, exit 2: nothing was done
 * and the user fixes the argument. A write that fails once the transfer began
 * is I/O, exit 1 (README, "Exit codes"). Found after a whole image was read,
 * these cost the whole transfer and printed Node's EISDIR/ENOENT.
 */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  const dir = dirname(resolve(path));
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (st instanceof Error && (st.code === "EACCES" || st.code === "EPERM"))
    throw new UsageError(`${flag} ${path}: cannot reach ${dir} (permission denied)`, { where: path });
  if (st instanceof Error || !st.isDirectory()) throw new UsageError(`${flag} ${path}: the folder ${dir} does not exist`, { where: path });
  if ((await stat(path).catch(() => undefined))?.isDirectory())
    throw new UsageError(`${flag} ${path} is a directory; give a file name`, { where: path });
  try {
    await access(dir, fsConstants.W_OK);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: cannot write in ${dir} (${fsReason(err)})`, { where: path, cause: err });
  }
  await checkCanCreate(path, flag, dir);
}

/**
 * The file is written under a temporary name beside it: one is made and removed now, so a folder that
 * takes no new files (/proc, /sys, a full disk's inode table) is said before the work, not as ENOENT after.
 * A device or FIFO named (/dev/null) is written into, not beside.
 */
async function checkCanCreate(path: string, flag: string, dir: string): Promise<void> {
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile()) return;
  const probe = temporaryNameBeside(dir, basename(path));
  try {
    await (await open(probe, "wx", 0o600)).close();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "the file system takes no new files there" : fsReason(err);
    throw new UsageError(`${flag} ${path}: cannot create a file in ${dir} (${why})`, { where: path, cause: err });
  }
  await unlink(probe).catch(() => undefined);
}

/**
 * Writes `data` to the `-o FILE` of export or blob. Unless `quiet`: a status line on a terminal and a
 * `Wrote FILE` line at the end; and, on a terminal, one line when FILE is a FIFO nobody reads yet, or the
 * wait would look like a hang.
 */
export async function writeOutputFile(
  ctx: CliContext,
  data: Readable,
  path: string,
  opts: { what: string; total?: number | undefined; quiet?: boolean | undefined },
): Promise<void> {
  const status = new WriteStatus(ctx, opts.what, opts.total);
  const onWait =
    opts.quiet || ctx.stderr.isTTY !== true ? undefined : () => status.note(`waiting for a reader on FIFO ${path} (Ctrl-C to stop)`);
  try {
    await writeFileAtomically(opts.quiet ? data : status.through(data), path, ctx.signal, onWait);
  } finally {
    status.finish(false, path);
  }
  if (!opts.quiet) status.finish(true, path);
}
