// Random access into a tar file without unpacking it: one pass reads every
// header (tar-stream parses them; bodies flow past unread), recording where
// each entry's bytes start. Blobs are then served with ranged file reads
// {start, end}, so a 5 GB archive costs one sequential scan and constant memory.
import { open, stat } from "node:fs/promises";
import { Readable, addAbortSignal } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { IntegrityError, NotFoundError, UsageError } from "../../errors.js";
import { archiveIsDirectory, ioError } from "../layout/fsutil.js";
import { fileChunks } from "../file-io.js";
import { normaliseEntryName, resolveHardlinkTarget, resolveSymlinkTarget } from "./entry-name.js";

export type EntryKind = "file" | "directory" | "symlink" | "link" | "other";

export interface TarEntry {
  /** Normalised archive-relative name. */
  name: string;
  kind: EntryKind;
  /** Byte offset of the entry's data in the tar file. */
  offset: number;
  size: number;
  mode: number;
  mtime: Date;
  /** Normalised archive-relative target of a symlink or hard link. */
  target?: string;
  /** The link target as written in the header (kept for rewrites). */
  linkname?: string;
}

/** More entries than any image archive has; a bigger count is an attack on memory. */
export const MAX_TAR_ENTRIES = 200_000;
/** Symlink chains longer than this are refused (loops, or an attempt to hide a target). */
const MAX_LINK_HOPS = 16;

function kindOf(type: string): EntryKind {
  switch (type) {
    case "file":
    case "contiguous-file":
      return "file";
    case "directory":
    case "symlink":
    case "link":
      return type;
    default:
      return "other";
  }
}

function brokenTar(file: string, why: string, cause?: unknown): IntegrityError {
  return new IntegrityError(`${file} is not a valid tar archive: ${why}`, { code: "E_UNSAFE_INPUT", where: file, cause });
}

export class TarIndex {
  private constructor(
    readonly file: string,
    /** Entries in archive order (rewrites keep it). */
    readonly entries: readonly TarEntry[],
    private readonly byName: ReadonlyMap<string, TarEntry>,
  ) {}

  /** Scans `file` once. Unsafe names, links leaving the archive, duplicates and truncation throw. */
  static async open(file: string): Promise<TarIndex> {
    let size: number;
    try {
      const st = await stat(file);
      if (st.isDirectory()) throw archiveIsDirectory(file);
      size = st.size;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw ioError(err, "cannot open archive", file);
    }
    const entries: TarEntry[] = [];
    const byName = new Map<string, TarEntry>();
    const extract = tar.extract();
    const scan = (async () => {
      for await (const source of extract) {
        const entry = toEntry(source.header, source.offset + 512, file);
        source.resume();
        if (entry.name === "") continue; // the archive root ("./") itself
        const prior = byName.get(entry.name);
        if (prior && !(prior.kind === "directory" && entry.kind === "directory")) {
          throw brokenTar(file, `entry ${entry.name} appears twice`);
        }
        if (entries.length >= MAX_TAR_ENTRIES) throw brokenTar(file, `more than ${MAX_TAR_ENTRIES} entries`);
        entries.push(entry);
        byName.set(entry.name, entry);
      }
    })();
    try {
      await Promise.all([pipeline(fileChunks(file), extract), scan]);
    } catch (err) {
      extract.destroy();
      if (err instanceof IntegrityError) throw err;
      // File-system errors carry a syscall; everything else is tar-stream refusing the bytes.
      if (typeof err === "object" && err !== null && "syscall" in err) throw ioError(err, "cannot read archive", file);
      throw brokenTar(file, err instanceof Error ? err.message.toLowerCase() : String(err), err);
    }
    for (const e of entries) {
      if (e.kind === "file" && e.offset + e.size > size) throw brokenTar(file, `entry ${e.name} runs past the end of the file`);
    }
    return new TarIndex(file, entries, byName);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The entry itself, links not followed. */
  get(name: string): TarEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * The regular file `name` denotes. With `followLinks`, symlinks and hard
   * links inside the archive are followed (docker save writes `id/layer.tar ->
   * ../other/layer.tar`); without it a link is refused, as OCI blobs must be files.
   */
  resolveFile(name: string, what: string, followLinks: boolean): TarEntry {
    let current = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const entry = this.byName.get(current);
      if (!entry) throw new NotFoundError(`${what} ${name} is not in the archive ${this.file}`, { where: this.file });
      if (entry.kind === "file") return entry;
      if ((entry.kind === "symlink" || entry.kind === "link") && entry.target !== undefined) {
        if (!followLinks) {
          throw new IntegrityError(`${what} ${name} is a link in ${this.file}; blobs must be regular files`, {
            code: "E_UNSAFE_INPUT",
            where: this.file,
          });
        }
        current = entry.target;
        continue;
      }
      throw new IntegrityError(`${what} ${name} is not a regular file in ${this.file}`, { code: "E_UNSAFE_INPUT", where: this.file });
    }
    throw new IntegrityError(`${what} ${name}: more than ${MAX_LINK_HOPS} links in a row in ${this.file}`, {
      code: "E_UNSAFE_INPUT",
      where: this.file,
    });
  }

  /** Reads a small entry whole (JSON documents), refusing it unread beyond `max` bytes. */
  async readBytes(entry: TarEntry, max: number, what: string): Promise<Buffer> {
    if (entry.size > max) {
      throw new IntegrityError(`${what} (${entry.size} bytes) is larger than the ${max}-byte limit in ${this.file}`, {
        code: "E_TOO_LARGE",
        where: this.file,
      });
    }
    const buf = Buffer.alloc(entry.size);
    if (entry.size === 0) return buf;
    let fh;
    try {
      fh = await open(this.file, "r");
      let done = 0;
      while (done < entry.size) {
        const { bytesRead } = await fh.read(buf, done, entry.size - done, entry.offset + done);
        if (bytesRead === 0) throw brokenTar(this.file, `entry ${entry.name} is truncated`);
        done += bytesRead;
      }
      return buf;
    } catch (err) {
      if (err instanceof IntegrityError) throw err;
      throw ioError(err, `cannot read ${what}`, this.file);
    } finally {
      await fh?.close();
    }
  }

  /** The entry's bytes as a stream; aborting `signal` closes the file. */
  stream(entry: TarEntry, signal?: AbortSignal): Readable {
    const s = entry.size === 0 ? Readable.from([]) : fileChunks(this.file, { start: entry.offset, end: entry.offset + entry.size - 1 });
    if (signal) addAbortSignal(signal, s);
    return s;
  }
}

function toEntry(header: tar.Header, offset: number, file: string): TarEntry {
  const name = normaliseEntryName(header.name, file);
  const kind = kindOf(header.type);
  const entry: TarEntry = {
    name,
    kind,
    offset,
    size: kind === "file" ? header.size : 0,
    mode: header.mode,
    mtime: header.mtime,
  };
  if (kind === "symlink") entry.target = resolveSymlinkTarget(name, header.linkname ?? "", file);
  if (kind === "link") entry.target = resolveHardlinkTarget(name, header.linkname ?? "", file);
  if (entry.target !== undefined) entry.linkname = header.linkname;
  return entry;
}
