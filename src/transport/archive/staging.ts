// Temporary files of an archive write or read: blobs spooled and verified
// before they enter a tar (a tar entry cannot be taken back once written),
// the archive itself written under a temporary name beside its target and
// renamed at commit, and standard input saved to a file for random access.
import { mkdtemp, rename, rm, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IoError } from "../../errors.js";
import { verifiedStages, type Digest } from "../../oci/digest.js";
import type { TransportOptions } from "../types.js";
import { ioError, uniqueSuffix } from "../layout/fsutil.js";
import { FileSink } from "../file-io.js";
import { TarWriter } from "./tar-writer.js";
import { sweepDeadTemporaries } from "../sweep.js";

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
    throw ioError(err, `cannot write ${path}`, dir);
  }
}

/** Spool folder for a destination archive: opts.tmpDir, else beside the target, else the system temp folder for `-`. */
export async function makeSpoolDir(path: string, opts: TransportOptions): Promise<string> {
  const parent = opts.tmpDir ?? (path === "-" ? tmpdir() : targetDir(path));
  await sweepDeadTemporaries(parent);
  try {
    return await mkdtemp(join(parent, `.dray-spool-${process.pid}-`));
  } catch (err) {
    throw ioError(err, "cannot create a temporary folder", parent);
  }
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
 * Where a new archive is written: a temporary file beside `path`, renamed
 * over it by publish(), or standard output for `-` (nothing to rename; an
 * aborted stream is simply cut short).
 */
export class ArchiveOutput {
  private constructor(
    readonly path: string,
    readonly writer: TarWriter,
    private readonly tmpPath: string | undefined,
  ) {}

  static async open(path: string, opts: TransportOptions): Promise<ArchiveOutput> {
    if (path === "-") {
      const out = opts.stdout ?? process.stdout;
      return new ArchiveOutput(path, new TarWriter(out, { end: false }), undefined);
    }
    await checkTargetDir(path);
    await sweepDeadTemporaries(targetDir(path));
    const tmp = join(targetDir(path), `.${basename(path)}.dray-${uniqueSuffix()}.tmp`);
    return new ArchiveOutput(path, TarWriter.toFile(tmp), tmp);
  }

  /** Ends the tar and renames it into place. */
  async publish(): Promise<void> {
    try {
      await this.writer.finish();
      if (this.tmpPath) await rename(this.tmpPath, this.path);
    } catch (err) {
      await this.discard();
      if (err instanceof Error && "syscall" in err) throw ioError(err, `cannot write ${this.path}`, this.path);
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
export async function spoolInput(input: Readable | undefined, opts: TransportOptions): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const parent = opts.tmpDir ?? tmpdir();
  await sweepDeadTemporaries(parent);
  const dir = await mkdtemp(join(parent, `.dray-stdin-${process.pid}-`));
  const file = join(dir, "archive.tar");
  const cleanup = (): Promise<void> => removeDir(dir);
  try {
    await pipeline(input ?? process.stdin, new FileSink(file, 0o600));
  } catch (err) {
    await cleanup();
    throw ioError(err, "cannot read the archive from standard input", "-");
  }
  return { file, cleanup };
}

