import { runInNewContext } from "node:vm";
import { reclaimBuffersWith } from "../../memory.js";

/**
 * The collector behind src/memory.ts's hook: a young generation collection
 * (a scavenge: well under a millisecond here) every few MiB a blob stream
 * passes on, so that dead 64 KiB socket buffers, whose memory V8 frees only
 * when a collection finds their small JS objects dead, do not pile up
 * (measured: a 500 MB layer peaked 19 MiB above a 30 x 1 MiB image without
 * it). gc() exists when the process runs with --expose-gc (launch.cts sets it).
 */

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

/** Installs the scavenger for this process (the CLI's; the library never collects on its own). */
export function installScavenger(): void {
  reclaimBuffersWith(lazyScavenge());
}
