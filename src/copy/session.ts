import { setMaxListeners } from "node:events";
import type { NewLayer } from "./recompress.js";
import type { Node } from "./convert.js";
import { InterruptedError, isAbortError } from "../errors.js";
import type { ImageDestination } from "../transport/types.js";
import { createLimiter, type Limiter } from "./limit.js";
import type { BlobCounts, CopyEvent, CopyOptions } from "./types.js";

export const DEFAULT_JOBS = 6;

/**
 * Without `--jobs`, blobs move in a window bounded by bytes, not by count: many
 * small blobs at once (each a round trip or three on a real link, bytes
 * nearly nil), fewer large ones. Bodies stream either way, so the bound is on
 * concurrency (connections, sockets' buffers), not on memory held.
 */
export const WINDOW_BYTES = 64 * 1024 * 1024;
/** Blobs in flight at most, however small (each takes a connection at each side). */
const WINDOW_MOST_BLOBS = 16;
/** Large blobs still move this many at once: parallel streams fill a long link better than one. */
const WINDOW_FEWEST_BLOBS = 4;

/** A blob as it ended up at the destination. */
export interface PlacedBlob {
  digest: string;
  /** Bytes at the destination (differs from the source for decompressed layers). */
  size: number;
}

/**
 * What one run of the engine shares across the images it copies into one
 * destination: the concurrency limits, the blobs already placed or in flight
 * (so each is fetched once), the counters, and one abort controller that the
 * user's signal and the first failure both trip.
 */
export class CopySession {
  /** Tripped by the first failure. */
  private readonly controller = new AbortController();
  /** Aborted on the user's signal or the first failure; every request and stream gets it. */
  readonly signal: AbortSignal;
  /** HEADs, mounts and manifest reads: cheap requests, more of them at once. */
  readonly requests: Limiter;
  /** Blob bodies in flight: `--jobs` of them, or a window of WINDOW_BYTES; pass `transferWeight(size)`. */
  readonly transfers: Limiter;
  /** What a blob of `size` bytes takes of the transfer window. */
  readonly transferWeight: (size: number) => number;
  /** Blobs placed or being placed, by their digest at the destination. */
  readonly blobs = new Map<string, Promise<PlacedBlob>>();
  /** Layers recompressed in this session, by source digest and target compression. */
  readonly recompressed = new Map<string, Promise<NewLayer>>();
  /** Configs read during planning (or being read), reused instead of fetching them again. */
  readonly configs = new Map<string, Promise<Buffer>>();
  /** Manifests of the graph read (or being read), by digest: an index naming one child many times fetches it once. */
  readonly nodes = new Map<string, Promise<Node>>();
  /** Child manifests stored (or being stored), by digest. */
  readonly placedManifests = new Map<string, Promise<void>>();
  /** Descriptors listed by the distinct indexes read so far (bounded, see engine.ts). */
  indexEntries = 0;
  readonly counts: BlobCounts = { copied: 0, skipped: 0, mounted: 0 };
  bytes = 0;
  manifests = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private firstError: unknown;

  constructor(
    readonly dst: ImageDestination,
    private readonly opts: CopyOptions,
  ) {
    this.signal = opts.signal ? AbortSignal.any([this.controller.signal, opts.signal]) : this.controller.signal;
    // Every request and stream in flight listens on the one signal; that is by design, not a leak.
    setMaxListeners(0, this.signal);
    // A destination that writes blobs one after another (an archive on a
    // stream) would leave the other source connections idle until they time out.
    if (!dst.capabilities.concurrentPutBlob) {
      this.transfers = createLimiter(1, this.signal);
      this.transferWeight = () => 1;
    } else if (opts.jobs !== undefined) {
      this.transfers = createLimiter(opts.jobs, this.signal);
      this.transferWeight = () => 1;
    } else {
      this.transfers = createLimiter(WINDOW_BYTES, this.signal);
      const least = WINDOW_BYTES / WINDOW_MOST_BLOBS;
      const most = WINDOW_BYTES / WINDOW_FEWEST_BLOBS;
      this.transferWeight = (size) => Math.min(Math.max(size, least), most);
    }
    const blobsAtOnce = opts.jobs ?? WINDOW_MOST_BLOBS;
    // HEADs and mounts run ahead of the transfers, so a blob's answer is in when its turn comes.
    this.requests = createLimiter(Math.max(blobsAtOnce * 2, 8), this.signal);
  }

  emit(event: CopyEvent): void {
    this.opts.onProgress?.(event);
  }

  /** Throws InterruptedError when the run is already aborted. */
  checkAborted(): void {
    if (this.signal.aborted) throw this.error(this.signal.reason);
  }

  /** The first caller's task for `key` in `map`, shared by every concurrent and later caller: `start` runs once per session. */
  once<T>(map: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
    const known = map.get(key);
    if (known) return known;
    const running = this.track(start());
    map.set(key, running);
    return running;
  }

  /** Runs a task the session must wait for before the destination may be aborted; its failure aborts the others. */
  track<T>(task: Promise<T>): Promise<T> {
    this.pending.add(task);
    task.then(
      () => this.pending.delete(task),
      (err: unknown) => {
        this.pending.delete(task);
        this.fail(err);
      },
    );
    return task;
  }

  /** Records the first real failure and aborts every other transfer. */
  fail(err: unknown): void {
    if (this.firstError === undefined && !isAbortError(err) && !(err instanceof InterruptedError)) this.firstError = err;
    if (!this.signal.aborted) this.controller.abort(err);
  }

  /** Waits until nothing the session started is still running (so no write races the destination's abort). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /**
   * The error to report: InterruptedError when the user aborted, else the
   * first failure (not the AbortErrors it caused in the other transfers).
   */
  error(err: unknown): unknown {
    if (this.opts.signal?.aborted) return new InterruptedError();
    return this.firstError ?? err;
  }
}
