import { InterruptedError } from "../errors.js";

/**
 * Runs `fn` when there is room for its `weight` (default 1); the returned
 * promise settles with `fn`'s result. A task heavier than the whole capacity
 * runs when nothing else does.
 */
export interface Limiter {
  <T>(fn: () => Promise<T>, weight?: number): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly pending: number;
}

/**
 * A small concurrency limiter (the engine's `--jobs`). A task queued while
 * `signal` is aborted never starts: it rejects at once, so an aborted copy
 * does not open new connections after the first failure.
 */
export function createLimiter(concurrency: number, signal?: AbortSignal): Limiter {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  let active = 0;
  let used = 0;
  // First come, first served: a heavy task at the head waits for room rather than being overtaken forever.
  const queue: Array<{ weight: number; start: () => void }> = [];

  const next = (): void => {
    for (let head = queue[0]; head && (active === 0 || used + head.weight <= concurrency); head = queue[0]) {
      queue.shift();
      head.start();
    }
  };

  const limiter = <T>(fn: () => Promise<T>, weight = 1): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = (): void => {
        if (signal?.aborted) {
          reject(abortReason(signal));
          next();
          return;
        }
        active++;
        used += weight;
        fn()
          .then(resolve, reject)
          .finally(() => {
            active--;
            used -= weight;
            next();
          });
      };
      queue.push({ weight, start });
      next();
    });

  Object.defineProperties(limiter, {
    active: { get: () => active },
    pending: { get: () => queue.length },
  });
  return limiter as Limiter;
}

/** The error an aborted operation rejects with: the signal's reason when it is an Error, else InterruptedError. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name !== "AbortError" ? reason : new InterruptedError();
}
