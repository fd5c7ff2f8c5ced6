// Reading and writing blob files in large pieces. Each fs read or write is a
// round trip through libuv's thread pool (wake a worker, then the event
// loop); with Node's 16-64 KiB defaults a copy makes hundreds of them per
// blob, and on a 2-core machine shared with a registry those wake-ups cost
// more than the copying (measured: the largest self-time item of a registry
// -> layout copy).
import { createReadStream, type ReadStream } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";
import { noteStreamedBytes } from "../memory.js";

/** Bytes gathered before one write. */
const BATCH_BYTES = 512 * 1024;
/**
 * Bytes asked for in one read. Smaller than a write batch: a read stream keeps
 * its buffer full ahead of a slower consumer (an upload), so this is paid per
 * blob in flight (measured peak RSS with 1 MiB: +8 MiB for a 30-layer push).
 */
const READ_BYTES = 256 * 1024;

/** A stream of a file's bytes (optionally of `start`..`end`, inclusive) in 256 KiB reads. */
export function fileChunks(path: string, range: { start: number; end: number } | undefined = undefined): ReadStream {
  return createReadStream(path, { highWaterMark: READ_BYTES, ...range });
}

/**
 * A Writable into a new file (`wx`: never over an existing one) that gathers
 * chunks and writes them in batches of 512 KiB with one writev each, where
 * fs.createWriteStream writes every network chunk on its own.
 */
export class FileSink extends Writable {
  private handle: FileHandle | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /**
   * `countsBytes`: report what passes to src/memory.ts, for writers fed from
   * file reads (an archive assembled from spools), where no VerifyingStream
   * on the way counts the bytes.
   */
  constructor(
    private readonly path: string,
    private readonly mode = 0o644,
    private readonly countsBytes = false,
  ) {
    super();
  }

  override _construct(done: (err?: Error | null) => void): void {
    open(this.path, "wx", this.mode).then(
      (h) => {
        this.handle = h;
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.gather(chunk);
    if (this.pendingBytes < BATCH_BYTES) done();
    else this.flush().then(() => done(), done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) this.gather(chunk);
    if (this.pendingBytes < BATCH_BYTES) done();
    else this.flush().then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.flush()
      .then(() => this.handle?.close())
      .then(() => {
        this.handle = undefined;
        done();
      }, done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const h = this.handle;
    this.handle = undefined;
    this.pending = [];
    if (!h) return done(err);
    h.close().then(
      () => done(err),
      () => done(err),
    );
  }

  private gather(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.countsBytes) noteStreamedBytes(chunk.length);
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0 || !this.handle) return;
    const batch = this.pending;
    let left = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    // writev may write less than asked (rarely, for regular files): go on from where it stopped.
    let buffers = batch;
    while (left > 0) {
      const { bytesWritten } = await this.handle.writev(buffers);
      left -= bytesWritten;
      if (left > 0) buffers = remainder(buffers, bytesWritten);
    }
  }
}

/** The buffers after the first `skip` bytes (exported for tests). */
export function remainder(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  let n = skip;
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
