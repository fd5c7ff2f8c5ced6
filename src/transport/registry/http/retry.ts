/**
 * When and how long to wait before trying a request again. Pure: the HTTP
 * layer asks, this module answers from the status, the error and the
 * `Retry-After` header.
 */
import { RETRYABLE_STATUS } from "./status.js";

/** Socket-level failures worth another attempt: resets, timeouts, a peer that went away mid-answer. */
const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

export const DEFAULT_RETRIES = 3;
/** Upper bound for one wait, whatever the server asks: a CLI must not hang for an hour on a Retry-After. */
export const MAX_RETRY_DELAY_MS = 30_000;
const BASE_DELAY_MS = 200;

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

/** The error code of a network failure, following `cause` chains (fetch-style wrappers nest them). */
export function networkErrorCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && typeof cur === "object" && cur !== null; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && !code.startsWith("E_")) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isRetryableError(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/**
 * Milliseconds to wait before attempt `attempt` (1 = the first retry):
 * `Retry-After` when the server sent one (delta-seconds or an HTTP-date),
 * else exponential backoff with full jitter; capped either way.
 */
export function retryDelayMs(
  attempt: number,
  retryAfter: string | undefined,
  now: number = Date.now(),
  random: () => number = Math.random,
): number {
  const asked = parseRetryAfter(retryAfter, now);
  if (asked !== undefined) return Math.min(asked, MAX_RETRY_DELAY_MS);
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: spreads a crowd of clients without ever waiting zero.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** `Retry-After` in milliseconds from now, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/**
 * `shared` (a ping or token another request started), given up on when
 * `signal` aborts: the caller stops waiting, the shared work goes on for
 * whoever else waits on it.
 */
export function untilAborted<T>(shared: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return shared;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    shared.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `(after 3 retries; --retries N)`, for a failure the retry loop already tried again. */
export function afterRetries(retries: number): string {
  return retries > 0 ? ` (after ${retries} ${retries === 1 ? "retry" : "retries"}; --retries N)` : "";
}
