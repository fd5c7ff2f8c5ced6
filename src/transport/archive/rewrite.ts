// Rewriting an archive in place for tag and delete: every entry is copied
// from the old file (by byte range, no unpacking) into a new temporary file
// beside it, with some entries dropped or replaced, and the result renamed
// over the old one. A crash leaves the old archive whole.
import { IoError, UsageError } from "../../errors.js";
import { ArchiveOutput } from "./staging.js";
import type { TarIndex } from "./tar-index.js";

export interface ArchiveEdits {
  /** Entries left out of the new archive. */
  drop: ReadonlySet<string>;
  /** New contents: written where the old entry was, or at the end when the name is new. */
  replace: ReadonlyMap<string, Buffer>;
}

export async function rewriteArchive(tar: TarIndex, path: string, edits: ArchiveEdits): Promise<void> {
  if (path === "-") throw new UsageError("an archive on standard input cannot be modified; write it to a file first", { code: "E_USAGE" });
  const output = await ArchiveOutput.open(path, {});
  const w = output.writer;
  try {
    for (const e of tar.entries) {
      const replacement = edits.replace.get(e.name);
      if (replacement) {
        await w.addBuffer(e.name, replacement);
        continue;
      }
      if (edits.drop.has(e.name)) continue;
      const meta = { mode: e.mode, mtime: e.mtime };
      switch (e.kind) {
        case "file":
          await w.addStream(e.name, e.size, () => tar.stream(e), meta);
          break;
        case "directory":
          await w.addDirectory(e.name, meta);
          break;
        case "symlink":
          await w.addSymlink(e.name, e.linkname!, meta);
          break;
        case "link":
          await w.addHardlink(e.name, e.target!, meta);
          break;
        case "other":
          break; // devices and fifos mean nothing in an image archive; they are not carried over
      }
    }
    for (const [name, bytes] of edits.replace) if (!tar.has(name)) await w.addBuffer(name, bytes);
    await output.publish();
  } catch (err) {
    await output.discard();
    if (err instanceof Error && "syscall" in err) throw new IoError(`cannot rewrite ${path}: ${err.message}`, { where: path, cause: err });
    throw err;
  }
}
