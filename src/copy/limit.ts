import { InterruptedError } from "../errors.js";

/** Runs `fn` when a slot is free; the returned promise settles with `fn`'s result. */
export interface Limiter {
  <T>(fn: () => Promise<T>): Promise<T>;
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
  const queue: Array<() => void> = [];

  const next = (): void => {
    if (active >= concurrency) return;
    const start = queue.shift();
    if (start) start();
  };

  const limiter = <T>(fn: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = (): void => {
        if (signal?.aborted) {
          reject(abortReason(signal));
          next();
          return;
        }
        active++;
        fn()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      };
      queue.push(start);
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
