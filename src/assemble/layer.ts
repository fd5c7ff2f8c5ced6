// Layers made from local files for `dray append`: a tar, a gzip or zstd tar,
// or a folder packed reproducibly. The same inputs give the same bytes on
// every machine: entries sorted, owner 0:0 (unless asked to keep it), modes
// normalised (umask does not leak in), one time for every entry
// (SOURCE_DATE_EPOCH or 1970), no user or group names, and a gzip header
// without the host's OS byte. Each layer is spooled once to a file, hashed on
// the way (digest of the stored bytes, diff_id of the tar).
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { PassThrough, Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { IoError, UsageError } from "../errors.js";
import { Measure, type Digest } from "../oci/digest.js";
import { compressStream, decompressStages } from "../oci/compression.js";
import type { LayerCompression } from "../oci/mediatype.js";

export interface PackOptions {
  /** Stored compression (default gzip). */
  compress?: LayerCompression;
  compressLevel?: number;
  /** Keep a folder's files' uid/gid instead of 0:0. */
  keepOwner?: boolean;
  /** The time every entry of a packed folder gets (default 1970-01-01). */
  mtime?: Date;
  /** Stops packing (Ctrl-C): the spool file is the caller's to remove. */
  signal?: AbortSignal;
}

/** A layer ready to be written: spooled at `file`. */
export interface PackedLayer {
  /** The path given, for messages. */
  path: string;
  /** How the layer was made: a folder packed, or a tar taken as it is or recompressed. */
  from: "folder" | "tar" | "gzip" | "zstd";
  compression: LayerCompression;
  digest: Digest;
  size: number;
  diffId: Digest;
  file: string;
}

/**
 * Sets a gzip stream's OS byte (offset 9) to 255, "unknown", as Go's
 * compress/gzip writes it: zlib writes the OS it was built for (3 on Linux,
 * 19 on macOS, 10 on Windows), which would make the digest depend on the host.
 */
class GzipHostless extends Transform {
  private seen = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      chunk = Buffer.from(chunk);
      chunk[9 - this.seen] = 0xff;
    }
    this.seen += chunk.length;
    done(null, chunk);
  }
}

function compressStages(to: LayerCompression, level: number | undefined): NodeJS.ReadWriteStream[] {
  if (to === "none") return [];
  const stages = [compressStream(to, level)];
  if (to === "gzip") stages.push(new GzipHostless());
  return stages;
}

/**
 * Refuses a gzip or zstd stream whose contents are no tar (a compressed text
 * file would otherwise become a layer no runtime can unpack): the first
 * 512 bytes after decompression must be a ustar header or a tar's end blocks.
 */
class TarHead extends Transform {
  private head = Buffer.alloc(0);
  private checked = false;

  constructor(private readonly path: string) {
    super();
  }

  private check(): void {
    this.checked = true;
    const h = this.head;
    const tar = h.length === 512 && (h.subarray(257, 262).toString("latin1") === "ustar" || h.every((b) => b === 0));
    if (!tar) throw new UsageError(`--layer ${this.path}: compressed, but what it holds is not a tar`);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      if (!this.checked) {
        this.head = Buffer.concat([this.head, chunk.subarray(0, 512 - this.head.length)]);
        if (this.head.length === 512) this.check();
      }
      done(null, chunk);
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (!this.checked) this.check();
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

/** What a file starts with: gzip, zstd, a tar (ustar/GNU magic at 257), or something else. */
async function sniff(path: string): Promise<"gzip" | "zstd" | "tar" | undefined> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return "gzip";
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
    if (bytesRead >= 262 && head.subarray(257, 262).toString("latin1") === "ustar") return "tar";
    // A tar of nothing but its end blocks is still a tar (an empty layer).
    if (bytesRead === 512 && head.every((b) => b === 0)) return "tar";
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Packs or takes one PATH into a spooled layer under `spool`; a file the user may not read is a sentence, not a raw EACCES. */
export async function packLayer(path: string, spool: string, index: number, opts: PackOptions = {}): Promise<PackedLayer> {
  try {
    return await packOne(path, spool, index, opts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EACCES" || e.code === "EPERM") {
      throw new IoError(`--layer ${path}: permission denied reading ${e.path ?? path}`, { where: e.path ?? path });
    }
    throw err;
  }
}

async function packOne(path: string, spool: string, index: number, opts: PackOptions): Promise<PackedLayer> {
  const to = opts.compress ?? "gzip";
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    throw err.code === "ENOENT"
      ? new UsageError(`--layer ${path}: no such file or folder`)
      : new IoError(`--layer ${path}: cannot read it (${err.code ?? err.message})`, { where: path });
  });
  const file = join(spool, `layer-${index}`);
  if (st.isDirectory()) {
    const { diffId, digest, size } = await spoolLayer(packFolder(path, opts), [], to, opts, file);
    return { path, from: "folder", compression: to, digest, size, diffId, file };
  }
  if (!st.isFile()) throw new UsageError(`--layer ${path}: not a file or folder`);
  const kind = await sniff(path);
  if (!kind) throw new UsageError(`--layer ${path}: not a tar, a gzip or zstd tar, or a folder`);
  const from: LayerCompression = kind === "tar" ? "none" : kind;
  const inflate = [...decompressStages(from, st.size, path), ...(from === "none" ? [] : [new TarHead(path)])];
  if (from === to && opts.compressLevel === undefined) {
    // Already as asked: the bytes are kept (one pass to copy and hash them, one to find the diff_id).
    const { digest, size } = await spoolLayer(createReadStream(path), [], "none", { ...opts, compressLevel: undefined }, file);
    const tarHash = new Measure();
    await pipeline([createReadStream(path), ...inflate, tarHash, new PassThrough().resume()], opts.signal ? { signal: opts.signal } : {});
    return { path, from: kind, compression: to, digest, size, diffId: tarHash.digester.digest(), file };
  }
  const { diffId, digest, size } = await spoolLayer(createReadStream(path), inflate, to, opts, file);
  return { path, from: kind, compression: to, digest, size, diffId, file };
}

/** tar bytes (after `inflate`) → diff_id → compressed → digest → `file`. */
async function spoolLayer(
  input: Readable,
  inflate: NodeJS.ReadWriteStream[],
  to: LayerCompression,
  opts: Pick<PackOptions, "compressLevel" | "signal">,
  file: string,
): Promise<{ diffId: Digest; digest: Digest; size: number }> {
  const tarHash = new Measure();
  const stored = new Measure();
  await pipeline(
    [input, ...inflate, tarHash, ...compressStages(to, opts.compressLevel), stored, createWriteStream(file, { flags: "wx", mode: 0o600 })],
    opts.signal ? { signal: opts.signal } : {},
  );
  return { diffId: tarHash.digester.digest(), digest: stored.digester.digest(), size: stored.digester.bytes };
}

/** Modes as a reproducible build wants them: what the umask gave is not kept. */
function normalMode(type: "file" | "directory" | "symlink", mode: number): number {
  if (type === "directory") return 0o755;
  if (type === "symlink") return 0o777;
  return mode & 0o100 ? 0o755 : 0o644;
}

/** The folder as a tar stream: entries in sorted order, parents first, hard links as links to the first name. */
function packFolder(root: string, opts: PackOptions): Readable {
  const pack = tar.pack();
  const mtime = opts.mtime ?? new Date(0);
  const inodes = new Map<string, string>();
  const entry = (header: Parameters<typeof pack.entry>[0], body?: Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (!body) {
        pack.entry(header, done).end(undefined);
        return;
      }
      pipeline(body, pack.entry(header, done)).catch(reject);
    });
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const names = (await readdir(dir)).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : Buffer.from(a) > Buffer.from(b) ? 1 : 0));
    for (const name of names) {
      const full = join(dir, name);
      const rel = `${prefix}${name}`;
      const st = await lstat(full);
      const owner = opts.keepOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 };
      const base = { mtime, uname: "", gname: "", ...owner };
      if (st.isDirectory()) {
        await entry({ ...base, name: `${rel}/`, type: "directory", mode: normalMode("directory", st.mode) });
        await walk(full, `${rel}/`);
      } else if (st.isSymbolicLink()) {
        await entry({ ...base, name: rel, type: "symlink", linkname: await readlink(full), mode: normalMode("symlink", st.mode) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await entry({ ...base, name: rel, type: "link", linkname: first, mode: normalMode("file", st.mode) });
          continue;
        }
        if (st.nlink > 1) inodes.set(key, rel);
        await entry(
          { ...base, name: rel, type: "file", size: st.size, mode: normalMode("file", st.mode) },
          st.size > 0 ? createReadStream(full) : undefined,
        );
      } else {
        throw new UsageError(`--layer ${root}: ${rel} is a device, socket or FIFO, which a packed folder does not take; give a tar`);
      }
    }
  };
  walk(root, "").then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  // tar-stream's pack is a streamx Readable, which stream.pipeline takes; its typings do not say it is Node's.
  return pack as unknown as Readable;
}

/** The history entry's words for a layer: the path's last part, so the folder it sits in does not change the digest. */
export function layerLabel(layer: PackedLayer): string {
  return `dray append ${basename(layer.path.replace(/\/+$/, "")) || layer.path}`;
}
