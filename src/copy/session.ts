import { setMaxListeners } from "node:events";
import type { NewLayer } from "./recompress.js";
import type { ManifestFormat, Node } from "./convert.js";
import { InterruptedError, isAbortError } from "../errors.js";
import type { Platform } from "../oci/platform.js";
import type { ImageDestination, ImageSource } from "../transport/types.js";
import { createLimiter, type Limiter } from "./limit.js";
import type { BeforeTag, BlobCounts, ConversionOptions, CopyEvent, CopyOptions } from "./types.js";

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

/** What copies draw on to move blobs: their own by default, or one set shared by every image of a run (sync). */
export interface TransferLimits {
  /** Blob bodies in flight: `jobs` of them, or a window of WINDOW_BYTES; pass `transferWeight(size)`. */
  readonly transfers: Limiter;
  /** What a blob of `size` bytes takes of the transfer window. */
  readonly transferWeight: (size: number) => number;
  /** HEADs, mounts and manifest reads: cheap requests, more of them at once. */
  readonly requests: Limiter;
}

/**
 * `jobs` blobs in flight, or (without it) the byte window holding at most
 * `mostBlobs` small blobs and at least WINDOW_FEWEST_BLOBS large ones; twice
 * as many requests, so a blob's HEAD is answered when its turn comes.
 */
export function transferLimits(jobs: number | undefined, signal: AbortSignal, mostBlobs = WINDOW_MOST_BLOBS): TransferLimits {
  const blobsAtOnce = jobs ?? mostBlobs;
  const requests = createLimiter(Math.max(blobsAtOnce * 2, 8), signal);
  if (jobs !== undefined) return { transfers: createLimiter(jobs, signal), transferWeight: () => 1, requests };
  const least = WINDOW_BYTES / Math.max(mostBlobs, WINDOW_FEWEST_BLOBS);
  const most = WINDOW_BYTES / WINDOW_FEWEST_BLOBS;
  return { transfers: createLimiter(WINDOW_BYTES, signal), transferWeight: (size) => Math.min(Math.max(size, least), most), requests };
}

/** What one image's transfer is asked for: by a single copy, or per tag of `--all-tags`. */
export interface TransferOptions extends ConversionOptions {
  /** Only these platforms of an index (CopyOptions.platforms). */
  platforms: readonly Platform[];
  /** Stores the top manifest under this tag instead of the destination location's own reference. */
  tag?: string;
  /** Compare the destination tag's digest (dst.currentDigest(), or dst.tagDigest(tag)) and finish at once when equal. */
  checkCurrent: boolean;
  /** CopyOptions.beforeTag. */
  beforeTag?: BeforeTag;
}

/**
 * One image on its way into the session's destination: what every step of
 * the engine (planning, blobs, recompression, manifests) reads, passed as one
 * object rather than the same four values positionally. A session holds many
 * at once under `--all-tags`, each with its own source.
 */
export interface ImageCopy {
  readonly session: CopySession;
  readonly src: ImageSource;
  /** The source's location in words, for errors and notices. */
  readonly where: string;
  readonly opts: TransferOptions;
  /** The manifest format to write; undefined keeps each manifest's own. */
  readonly format: ManifestFormat | undefined;
  /** Whether the stored digest may differ from the source's (format, compression, or a destination's accepted compressions). */
  readonly converting: boolean;
}

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
    const limits = opts.limits ?? transferLimits(opts.jobs, this.signal);
    const oneByOne = !dst.capabilities.concurrentPutBlob;
    this.transfers = oneByOne ? createLimiter(1, this.signal) : limits.transfers;
    this.transferWeight = oneByOne ? () => 1 : limits.transferWeight;
    this.requests = limits.requests;
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
