// Temporary files of an archive write or read: blobs spooled and verified
// before they enter a tar (a tar entry cannot be taken back once written),
// the archive itself written under a temporary name beside its target and
// renamed at commit, and standard input saved to a file for random access.
import { constants as fsConstants, type Stats } from "node:fs";
import { access, chmod, chown, lstat, readlink, rename, rm, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IoError, UsageError } from "../../errors.js";
import { verifiedStages, type Digest } from "../../oci/digest.js";
import type { TransportOptions } from "../types.js";
import { archiveIsDirectory, errnoCode, ioError, isNotFound, uniqueSuffix, writeError } from "../layout/fsutil.js";
import { FileSink } from "../file-io.js";
import { checkLinkMayBeFollowed } from "../protected-links.js";
import { checkOutputPlace } from "../output-place.js";
import { TarWriter } from "./tar-writer.js";
import { makeTemporaryFolder, sweepDeadTemporaries, temporaryNameBeside } from "../temporaries.js";

type ArchiveKind = "oci-archive" | "docker-archive";

export interface SpooledBlob {
  path: string;
  size: number;
}

/** The folder that holds `path` (resolved), where a temporary archive can be renamed over it. */
function targetDir(path: string): string {
  return dirname(resolve(path));
}

/** Checks the folder a new archive goes into exists, so the failure names it rather than a temp file. */
async function checkTargetDir(path: string): Promise<void> {
  const dir = targetDir(path);
  try {
    if (!(await stat(dir)).isDirectory()) throw new IoError(`cannot write ${path}: ${dir} is not a directory`, { where: path });
  } catch (err) {
    if (err instanceof IoError) throw err;
    throw writeError(err, `cannot write ${path}`, dir);
  }
}

/**
 * The archive a destination writes, checked before any work as `-o FILE` is (checkOutputPlace): a directory
 * named, a file the user may not write, a missing folder, one the user may not write in or that takes no new
 * files (/proc) is a usage error, exit 2, naming the path, not a word on temporaries after the source was read.
 */
async function checkArchiveDestination(path: string, kind: ArchiveKind): Promise<void> {
  if (path === "-") return;
  const target = await archiveTarget(path).catch((err: unknown) => {
    throw err instanceof IoError ? new UsageError(err.message, { code: "E_LOCATION_INVALID", where: path, cause: err }) : err;
  });
  await checkOutputPlace(target.file, `${kind}:${path}`);
}

/** Spool folder for a destination archive: opts.tmpDir, else beside the target, else dray's per-user temporary folder for `-`. */
export async function makeSpoolDir(path: string, kind: ArchiveKind, opts: TransportOptions): Promise<string> {
  await checkArchiveDestination(path, kind);
  return makeTemporaryFolder("spool", opts.tmpDir ?? (path === "-" ? undefined : targetDir(path)));
}

/**
 * Staging folder of a whole-mirror archive: `opts.tmpDir`, else dray's per-user folder under `$TMPDIR`, not
 * beside the archive, so the archive's own disk (a USB disk) needs room for the archive only, not twice.
 */
export async function makeMirrorStagingDir(path: string, opts: TransportOptions, forWriting: boolean): Promise<string> {
  if (forWriting) await checkArchiveDestination(path, "oci-archive");
  return makeTemporaryFolder("mirror", opts.tmpDir);
}

/** The folder the archive at `path` is written in (through symlinks), where its free space counts. */
export async function archiveFolder(path: string): Promise<string> {
  return targetDir(await followLinks(path));
}

/**
 * Where a new archive for `path` is written (beside the file, through symlinks) and the bytes of the archive
 * it replaces (0 for a new file); undefined for standard output. What its free space is checked against.
 */
export async function archiveBeside(path: string): Promise<{ dir: string; earlier: number } | undefined> {
  if (path === "-") return undefined;
  const target = await archiveTarget(path);
  return { dir: targetDir(target.file), earlier: target.size };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Streams `data` into `dir`, hashing it on the way; the file gets its final
 * name only when digest (and size, when known: >= 0) match, so a failed or
 * aborted transfer leaves nothing that looks like a blob.
 */
export async function spoolBlob(
  dir: string,
  digest: Digest,
  size: number,
  data: Readable,
  signal: AbortSignal | undefined,
  where: string,
): Promise<SpooledBlob> {
  const final = join(dir, `${digest.algorithm}-${digest.hex}`);
  const part = `${final}.${uniqueSuffix()}.part`;
  const { stages, verifier: verify } = verifiedStages(data, { digest, size: size >= 0 ? size : undefined, where });
  try {
    await pipeline([...stages, new FileSink(part)], signal ? { signal } : {});
    await rename(part, final);
  } catch (err) {
    await unlink(part).catch(() => undefined);
    throw err;
  }
  return { path: final, size: verify.bytesSeen };
}

/**
 * The file an archive write replaces, found before anything is written:
 * through symlinks (a link to the archive keeps pointing at the new bytes),
 * with the mode and owner the replacement must keep (a `chmod 600` archive
 * stays private), and refused when the user could not write it (a rename
 * over it would succeed in a writable folder, and take the file over).
 */
interface ArchiveTarget {
  /** The path renamed over: `path` with symlinks resolved. */
  file: string;
  /** Mode and owner of the file replaced; undefined for a new file. */
  keep: Pick<Stats, "mode" | "uid" | "gid"> | undefined;
  /** Bytes of the file replaced (its images are carried into the new one); 0 for a new file. */
  size: number;
}

async function archiveTarget(path: string): Promise<ArchiveTarget> {
  const file = await followLinks(path);
  let st: Stats;
  try {
    st = await stat(file);
  } catch (err) {
    if (isNotFound(err)) return { file, keep: undefined, size: 0 };
    throw writeError(err, `cannot write ${path}`, path);
  }
  if (st.isDirectory()) throw archiveIsDirectory(path);
  if (!st.isFile()) throw new UsageError(`${path} is not a regular file`, { code: "E_LOCATION_INVALID", where: path });
  try {
    await access(file, fsConstants.W_OK);
  } catch (err) {
    throw new IoError(`cannot write ${path}: ${errnoCode(err) === "EROFS" ? "read-only file system" : "permission denied"}`, {
      where: path,
      cause: err,
    });
  }
  return { file, keep: st, size: st.size };
}

/** `path` with every symlink on the way followed, also when the last one points at a file not yet there. */
async function followLinks(path: string, depth = 0): Promise<string> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isNotFound(err)) return resolve(path);
    throw writeError(err, `cannot write ${path}`, path);
  }
  if (!st.isSymbolicLink()) return resolve(path);
  await checkLinkMayBeFollowed(path, `cannot write ${path}`);
  if (depth >= 32) throw new IoError(`cannot write ${path}: too many levels of symbolic links`, { where: path });
  return followLinks(resolve(dirname(resolve(path)), await readlink(path)), depth + 1);
}

/** Gives the replacement the mode of the file it replaces, and its owner when we may (root). */
async function keepModeAndOwner(tmp: string, keep: ArchiveTarget["keep"]): Promise<void> {
  if (!keep) return;
  await chmod(tmp, keep.mode & 0o7777);
  const uid = process.getuid?.();
  if (uid === 0 && (keep.uid !== 0 || keep.gid !== 0)) await chown(tmp, keep.uid, keep.gid);
}

/**
 * Where a new archive is written: a temporary file beside `path` (beside
 * the file a symlink names), renamed over it by publish(), or standard
 * output for `-` (nothing to rename; an aborted stream is simply cut short).
 */
export class ArchiveOutput {
  private constructor(
    readonly path: string,
    readonly writer: TarWriter,
    private readonly tmpPath: string | undefined,
    private readonly target: ArchiveTarget | undefined,
  ) {}

  static async open(path: string, opts: TransportOptions): Promise<ArchiveOutput> {
    if (path === "-") {
      const out = opts.stdout ?? process.stdout;
      // As `docker save` does: a tar on a terminal is garbage on the screen, never what was meant.
      if ((out as { isTTY?: boolean }).isTTY === true) {
        throw new UsageError(
          "refusing to write an archive to a terminal: redirect standard output (> FILE, | …) or give a file name instead of -",
        );
      }
      return new ArchiveOutput(path, new TarWriter(out, { end: false }), undefined, undefined);
    }
    const target = await archiveTarget(path);
    await checkTargetDir(target.file);
    await sweepDeadTemporaries(targetDir(target.file));
    const tmp = temporaryNameBeside(targetDir(target.file), basename(target.file));
    return new ArchiveOutput(path, TarWriter.toFile(tmp), tmp, target);
  }

  /** Ends the tar and renames it into place, with the replaced file's mode and owner. */
  async publish(): Promise<void> {
    try {
      await this.writer.finish();
      if (this.tmpPath && this.target) {
        await keepModeAndOwner(this.tmpPath, this.target.keep);
        await rename(this.tmpPath, this.target.file);
      }
    } catch (err) {
      await this.discard();
      if (err instanceof Error && "syscall" in err) throw writeError(err, `cannot write ${this.path}`, this.path);
      throw err;
    }
  }

  /** Stops writing and removes the temporary file; the target is untouched. */
  async discard(): Promise<void> {
    await this.writer.abort();
    if (this.tmpPath) await unlink(this.tmpPath).catch(() => undefined);
  }
}

/**
 * Saves an archive arriving on standard input to a temporary file, so it can
 * be indexed and read at random like any other. Returns the file and a
 * function that removes it.
 */
export async function spoolInput(
  input: Readable | undefined,
  opts: TransportOptions,
): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const source = input ?? process.stdin;
  // Nobody types a tar: waiting for one on a terminal would wait forever.
  if ((source as { isTTY?: boolean }).isTTY === true) {
    throw new UsageError("standard input is a terminal: pipe an archive in (< FILE, … |) or give its file name instead of -");
  }
  const dir = await makeTemporaryFolder("stdin", opts.tmpDir);
  const file = join(dir, "archive.tar");
  const cleanup = (): Promise<void> => removeDir(dir);
  try {
    await pipeline(source, new FileSink(file, 0o600));
  } catch (err) {
    await cleanup();
    throw ioError(err, "cannot read the archive from standard input", "-");
  }
  return { file, cleanup };
}
