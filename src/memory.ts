/**
 * Keeps dead socket buffers from piling up while blobs stream.
 *
 * Every socket read hands out a fresh 64 KiB Buffer. Its memory lives outside
 * the JS heap and is freed only when a garbage collection finds the small JS
 * object that holds it dead. A stream allocates few JS objects, so V8's young
 * generation fills slowly, collections are rare, and dead buffers pile up:
 * measured, a 500 MB layer peaked 19 MiB above a 30 × 1 MiB image. A
 * collection after every few MiB streamed keeps that backlog bounded.
 *
 * This file is only the hook blob streams call (noteStreamedBytes). It is off
 * unless a caller installs a collector: the library never collects on its own;
 * the CLI installs one at start-up (src/cli/startup/scavenge.ts).
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
