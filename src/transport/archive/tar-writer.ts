// Writes a tar with tar-stream, one entry at a time. Callers may add entries
// from concurrent tasks: appends are queued, because a tar is a sequence and
// two bodies must never interleave. Headers are deterministic (mtime 0, uid 0,
// no user names) so the same content gives the same archive bytes.
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { FileSink, fileChunks } from "../file-io.js";

const EPOCH = new Date(0);

interface EntryHeader {
  name: string;
  type: "file" | "directory" | "symlink" | "link";
  size?: number;
  mode?: number;
  mtime?: Date;
  linkname?: string;
}

export class TarWriter {
  private readonly pack = tar.pack();
  private readonly flushed: Promise<void>;
  private tail: Promise<void> = Promise.resolve();
  private readonly dirs = new Set<string>();
  private closed = false;

  /** `end: false` leaves the sink open when the archive ends (standard output). */
  constructor(sink: NodeJS.WritableStream, opts: { end?: boolean } = {}) {
    this.flushed = pipeline(this.pack, sink, { end: opts.end ?? true });
    this.flushed.catch(() => undefined); // observed through finish() or abort()
  }

  /** A writer into a new file (`wx`: never over an existing one). */
  static toFile(path: string): TarWriter {
    // Assembled from spooled files: no verifier counts these bytes for the scavenger (src/memory.ts).
    return new TarWriter(new FileSink(path, 0o644, true));
  }

  /** Adds `name` with the bytes in memory. */
  addBuffer(name: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
    return this.enqueue(() => this.writeBody({ name, type: "file", size: bytes.length, mode }, bytes));
  }

  /** Adds `name` with the bytes of the file at `path`, which must be `size` bytes long. */
  addFile(name: string, path: string, size: number, mode = 0o644): Promise<void> {
    return this.enqueue(() => this.writeBody({ name, type: "file", size, mode }, size === 0 ? new Uint8Array() : fileChunks(path)));
  }

  /** Adds `name` from a stream of exactly `size` bytes (opened only when its turn comes). */
  addStream(name: string, size: number, open: () => Readable, opts: { mode?: number; mtime?: Date } = {}): Promise<void> {
    return this.enqueue(() => this.writeBody({ name, type: "file", size, ...opts }, size === 0 ? new Uint8Array() : open()));
  }

  addDirectory(name: string, opts: { mode?: number; mtime?: Date } = {}): Promise<void> {
    const dir = name.replace(/\/*$/, "/");
    if (this.dirs.has(dir)) return this.tail;
    this.dirs.add(dir);
    return this.enqueue(() => this.writeBody({ name: dir, type: "directory", mode: 0o755, ...opts }, new Uint8Array()));
  }

  /** Adds the directories above `name` (a/b/c → a/, a/b/) that are not in the archive yet. */
  async addParents(name: string): Promise<void> {
    const parts = name.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) await this.addDirectory(parts.slice(0, i).join("/"));
  }

  addSymlink(name: string, target: string, opts: { mtime?: Date } = {}): Promise<void> {
    return this.enqueue(() => this.writeBody({ name, type: "symlink", linkname: target, mode: 0o777, ...opts }, new Uint8Array()));
  }

  /** A hard link: `target` is a name relative to the archive root. */
  addHardlink(name: string, target: string, opts: { mode?: number; mtime?: Date } = {}): Promise<void> {
    return this.enqueue(() => this.writeBody({ name, type: "link", linkname: target, ...opts }, new Uint8Array()));
  }

  /** Waits for every queued entry, writes the end-of-archive blocks and flushes the sink. */
  async finish(): Promise<void> {
    await this.tail;
    this.closed = true;
    this.pack.finalize();
    await this.flushed;
  }

  /** Stops writing; the sink gets no trailer (the caller removes or discards it). */
  async abort(): Promise<void> {
    this.closed = true;
    this.pack.destroy(new Error("archive write aborted"));
    await this.flushed.catch(() => undefined);
    await this.tail.catch(() => undefined);
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new Error("archive writer is closed"));
    const next = this.tail.then(step);
    // A failed entry leaves the tar corrupt: every later append fails with it.
    this.tail = next;
    next.catch(() => undefined);
    return next;
  }

  private writeBody(h: EntryHeader, body: Uint8Array | Readable): Promise<void> {
    const header = { uid: 0, gid: 0, uname: "", gname: "", mtime: EPOCH, mode: 0o644, size: 0, ...h };
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      try {
        if (body instanceof Uint8Array) {
          // tar-stream writes a Buffer body itself and ends the entry.
          if (h.type === "file") this.pack.entry(header, Buffer.from(body.buffer, body.byteOffset, body.byteLength), done);
          else this.pack.entry(header, done).end(undefined);
          return;
        }
        const entry = this.pack.entry(header, done);
        pipeline(body, entry).catch(reject);
      } catch (err) {
        reject(err);
      }
    });
  }
}
