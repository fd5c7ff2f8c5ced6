/**
 * A read, then a PUT, read back: how every writer of a shared list in a
 * registry or layout (the tag schema's `sha256-<hex>` index, cosign's `.sig`
 * manifest) keeps its entry when another writer does the same at once. Each
 * PUTs what it read plus its own, and the later drops the earlier's entry:
 * the list is read back a moment after the PUT and, while ours is not in it,
 * written again over what is there now.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { SignalOption } from "../transport/types.js";

/**
 * After a PUT, how long to wait before reading it back, and how many times to write again when another writer's
 * PUT replaced it. The wait outlasts the other writer's read-then-PUT (two requests) on most registries, and a
 * layout writer's wait for the layout lock (its backoff reaches 200 ms); regclient serializes these updates with a
 * mutex, which holds in one process only.
 */
export const INDEX_CONFIRM = { delayMs: 250, attempts: 5 } as const;

export interface ReadBackSteps<S> {
  /** What the list holds now (`again`: after a PUT of ours). */
  read(again: boolean): Promise<S>;
  /** True when ours is in it: nothing (more) to write. */
  isListed(state: S): boolean;
  /** Writes what `state` holds plus ours. */
  write(state: S): Promise<void>;
  /** The error once `writes` PUTs were each replaced by another writer's. */
  lost(writes: number, state: S): Error;
}

/**
 * Reads; while ours is not listed, writes and (with `confirm`) reads back after `confirm.delayMs`, writing again at
 * most `confirm.attempts` more times. Without `confirm` (a dry run, a caller with no one to race), one write and no
 * read back. Returns the state that listed ours (undefined after an unconfirmed write) and how many writes it took.
 */
export async function writeUntilListed<S>(
  steps: ReadBackSteps<S>,
  opts: SignalOption & { confirm?: { delayMs: number; attempts: number } },
): Promise<{ state: S | undefined; writes: number }> {
  for (let writes = 0; ;) {
    const state = await steps.read(writes > 0);
    if (steps.isListed(state)) return { state, writes };
    if (writes > (opts.confirm?.attempts ?? 0)) throw steps.lost(writes, state);
    await steps.write(state);
    writes++;
    if (!opts.confirm) return { state: undefined, writes };
    await sleep(opts.confirm.delayMs, undefined, opts.signal ? { signal: opts.signal } : {});
  }
}
