import { runInNewContext } from "node:vm";

/**
 * Keeps dead socket buffers from piling up while blobs stream.
 *
 * Every socket read hands out a fresh 64 KiB Buffer. Its memory lives outside
 * the JS heap and is freed only when a garbage collection finds the small JS
 * object that holds it dead. A stream allocates few JS objects, so V8's young
 * generation fills slowly, collections are rare, and dead buffers pile up:
 * measured, a 500 MB layer peaked 19 MiB above a 30 × 1 MiB image. A young
 * generation collection (a scavenge: well under a millisecond here) after
 * every few MiB streamed keeps that backlog bounded.
 *
 * Off unless a caller installs a collector: the library never collects on its
 * own; the CLI does when Node runs with --expose-gc (bin/dray.cjs sets it).
 */
const RECLAIM_EVERY_BYTES = 8 * 1024 * 1024;

let collect: (() => void) | undefined;
let sinceLast = 0;

/** Install (or, with undefined, remove) the collector that noteStreamedBytes calls. */
export function reclaimBuffersWith(collector: (() => void) | undefined): void {
  collect = collector;
  sinceLast = 0;
}

/** Told the size of each chunk a blob stream passes on. */
export function noteStreamedBytes(n: number): void {
  if (collect === undefined) return;
  sinceLast += n;
  if (sinceLast < RECLAIM_EVERY_BYTES) return;
  sinceLast = 0;
  collect();
}

type GcFunction = (options?: { type?: "minor" | "major"; execution?: "sync" | "async" }) => void;

/** A young generation collection, when V8 exposes gc() (flag --expose-gc, set before this context was made or later). */
export function exposedScavenge(): (() => void) | undefined {
  try {
    // A context made after the flag is set gets `gc` even when the main context was made before.
    const gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as GcFunction | undefined;
    return gc === undefined ? undefined : () => gc({ type: "minor" });
  } catch {
    return undefined;
  }
}

/**
 * exposedScavenge, looked up on the first call only: making the context costs
 * about a millisecond, which runs that stream less than 8 MiB need not pay.
 */
export function lazyScavenge(): () => void {
  let found: (() => void) | null | undefined;
  return () => {
    if (found === undefined) found = exposedScavenge() ?? null;
    found?.();
  };
}
