/**
 * An HTTP answer and the reading of its body: headers by name, a body read
 * whole under a size limit and a minimum rate, or discarded so its connection
 * goes back to the pool. Below the request loop (http.ts) and the registry's
 * error bodies (../errors.ts), which both read answers through it.
 */
import type { Dispatcher } from "undici";
import { DrayError, IntegrityError, NetworkError } from "../../../errors.js";
import { translateError } from "./failure.js";
import { redactURL } from "./redact.js";

export type ResponseBody = Dispatcher.ResponseData["body"];
export type ResponseHeaders = Dispatcher.ResponseData["headers"];

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  body: ResponseBody;
  url: URL;
  /** The longest silence allowed in this body (HttpTimeouts.bodyMs): the grace of a small read's deadline. */
  bodyMs?: number;
  /** Set when this is the last of several answers with a retryable status (5xx, 429, 408): how many retries came before. */
  retries?: number;
  /** A 5xx's error body, already read to see that it is a verdict (not retried): the body stream is then spent. */
  said?: Buffer;
}

/** The most of an error body read (a registry's JSON errors, or a proxy's HTML page cut short). */
export const MAX_ERROR_BODY = 64 * 1024;
/** The longest silence allowed in a body, unless the settings say otherwise (HttpTimeouts.bodyMs). */
export const DEFAULT_BODY_MS = 60_000;
/**
 * Small reads (manifests, tokens, tag pages, error bodies) average at least
 * this rate once their grace (bodyMs) is over: a server that trickles a byte
 * now and then, never silent for bodyMs, cannot hold a run for hours (issue
 * 26: 649 s for one `inspect`). Blobs stream and are not held to it.
 */
const SMALL_READ_MIN_BYTES_PER_SECOND = 16 * 1024;

export function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function headerList(headers: ResponseHeaders, name: string): string[] | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

/** Discards a response body so its connection returns to the pool (a body that trickles is dropped after bodyMs). */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: 256 * 1024, signal: AbortSignal.timeout(res.bodyMs ?? DEFAULT_BODY_MS) });
  } catch {
    // The connection is dropped instead of reused: nothing else to do.
  }
}

/**
 * Closes a response body no one will read, without reusing its connection.
 * undici's body fails a destroy() before its end with RequestAbortedError,
 * which Node 24 emits as an 'error' event: with no listener, that crashed
 * the process (found running the suite on Node 24; Node 20 stayed quiet).
 */
export function dropBody(body: ResponseBody): void {
  body.on("error", () => {});
  body.destroy();
}

/**
 * Reads a whole body, refusing more than `limit` bytes (checked against
 * Content-Length first, then as it flows) and a body slower than
 * SMALL_READ_MIN_BYTES_PER_SECOND after its grace.
 */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(header(res.headers, "content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    dropBody(res.body);
    throw new IntegrityError(`${what} of ${declared} bytes exceeds the ${limit}-byte limit`, {
      code: "E_TOO_LARGE",
      where: redactURL(res.url),
    });
  }
  return readUpTo(res, limit, what, "refuse");
}

/**
 * An error body's first MAX_ERROR_BODY bytes, the rest dropped with its connection: a registry's verdict
 * (`{"errors":[{"code":"DENIED",…` ) comes first, and a huge message or detail after it must not hide it.
 */
export async function readErrorBody(res: HttpResponse): Promise<Buffer> {
  return readUpTo(res, MAX_ERROR_BODY, "error body", "cut");
}

/** A body's bytes, at most `limit`: past it, refused (E_TOO_LARGE) or cut there. */
async function readUpTo(res: HttpResponse, limit: number, what: string, past: "refuse" | "cut"): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const deadline = smallReadDeadline(res, what, () => total);
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      if (total + buf.length > limit) {
        if (past === "refuse") {
          res.body.destroy();
          throw new IntegrityError(`${what} exceeds the ${limit}-byte limit`, { code: "E_TOO_LARGE", where: redactURL(res.url) });
        }
        chunks.push(buf.subarray(0, limit - total));
        total = limit;
        dropBody(res.body);
        break;
      }
      total += buf.length;
      chunks.push(buf);
    }
  } catch (err) {
    if (deadline.missed) throw deadline.missed;
    if (err instanceof DrayError) throw err;
    throw translateError(err, { method: "GET", url: res.url });
  } finally {
    deadline.stop();
  }
  return Buffer.concat(chunks, total);
}

/** Destroys `res`'s body once it falls below the small-read rate (its grace over); `missed` is then the error to report. */
function smallReadDeadline(res: HttpResponse, what: string, received: () => number): { missed?: NetworkError; stop: () => void } {
  const started = Date.now();
  const grace = res.bodyMs ?? DEFAULT_BODY_MS;
  const state: { missed?: NetworkError; stop: () => void } = { stop: () => clearTimeout(timer) };
  const check = (): void => {
    const allowedMs = grace + (received() / SMALL_READ_MIN_BYTES_PER_SECOND) * 1000;
    const tookMs = Date.now() - started;
    if (tookMs < allowedMs) {
      timer = setTimeout(check, allowedMs - tookMs);
      return;
    }
    state.missed = new NetworkError(
      `${what} from ${redactURL(res.url)} arrived too slowly: ${received()} bytes in ${(tookMs / 1000).toFixed(1)} s`,
      { where: redactURL(res.url) },
    );
    res.body.destroy(state.missed);
  };
  let timer = setTimeout(check, grace);
  return state;
}
