import { Readable } from "node:stream";
import { IntegrityError, NetworkError } from "../../errors.js";
import { discard, dropBody, header, type HttpResponse, type ResponseBody } from "./http/response.js";
import { isRetryableError, retryDelayMs, sleep } from "./http/retry.js";
import { OK, PARTIAL_CONTENT } from "./http/status.js";

/**
 * A blob download that survives a broken connection: when the body fails
 * part-way, it asks again with `Range: bytes=N-` and goes on where it
 * stopped. A 206 must start exactly at N (`Content-Range: bytes N-…`); a 200
 * means the server ignores ranges, so the first N bytes are skipped. Bounded
 * in attempts. Sizes are checked here (a body longer than the descriptor
 * fails at the first extra byte, a shorter one at its end); the digest is the
 * caller's job (VerifyingStream), so the bytes are hashed once.
 */

export type RangeOpener = (offset: number) => Promise<HttpResponse>;

export interface BlobStreamOptions {
  /** Expected size from the descriptor. */
  size: number;
  /** For error messages: `blob sha256:… at docker://…`. */
  where: string;
  /** Resume attempts after the first request. */
  attempts: number;
  signal?: AbortSignal;
  /** Reported once per resume, for --debug. */
  onResume?: (offset: number, attempt: number) => void;
}

const CONTENT_RANGE_RE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

export class ResumableBlobStream extends Readable {
  private body: ResponseBody | undefined;
  private received = 0;
  private skip = 0;
  private attempt = 0;

  constructor(
    first: HttpResponse,
    private readonly reopen: RangeOpener,
    private readonly opts: BlobStreamOptions,
  ) {
    super({ highWaterMark: 256 * 1024 });
    const declared = header(first.headers, "content-length");
    if (declared !== undefined && Number(declared) !== opts.size) {
      // The server announces the wrong size: refuse before moving a byte.
      dropBody(first.body);
      process.nextTick(() => this.destroy(this.sizeError(`the registry sends ${declared} bytes, the descriptor says ${opts.size}`)));
      return;
    }
    opts.signal?.addEventListener("abort", this.onAbort, { once: true });
    this.attach(first.body);
  }

  /** Bytes delivered so far. */
  get bytesReceived(): number {
    return this.received;
  }

  private readonly onAbort = (): void => {
    this.destroy(this.opts.signal?.reason instanceof Error ? this.opts.signal.reason : new Error("aborted"));
  };

  private attach(body: ResponseBody): void {
    this.body = body;
    body.on("data", (chunk: Buffer) => this.onData(body, chunk));
    body.on("end", () => this.onEnd(body));
    body.on("error", (err: Error) => this.onError(body, err));
  }

  override _read(): void {
    this.body?.resume();
  }

  private onData(body: ResponseBody, data: Buffer): void {
    if (body !== this.body || this.destroyed) return;
    let chunk = data;
    if (this.skip > 0) {
      if (chunk.length <= this.skip) {
        this.skip -= chunk.length;
        return;
      }
      chunk = chunk.subarray(this.skip);
      this.skip = 0;
    }
    if (this.received + chunk.length > this.opts.size) {
      this.destroy(this.sizeError(`more than ${this.opts.size} bytes`));
      return;
    }
    this.received += chunk.length;
    if (!this.push(chunk)) body.pause();
  }

  private onEnd(body: ResponseBody): void {
    if (body !== this.body || this.destroyed) return;
    this.body = undefined;
    if (this.received !== this.opts.size) {
      this.destroy(this.sizeError(`${this.received} bytes, expected ${this.opts.size}`));
      return;
    }
    this.opts.signal?.removeEventListener("abort", this.onAbort);
    this.push(null);
  }

  private onError(body: ResponseBody, err: Error): void {
    if (body !== this.body || this.destroyed) return;
    this.body = undefined;
    if (this.opts.signal?.aborted) {
      this.onAbort();
      return;
    }
    if (this.attempt >= this.opts.attempts || !isRetryableError(err)) {
      const tries = this.attempt > 0 ? ` (${this.attempt} resume attempt${this.attempt === 1 ? "" : "s"})` : "";
      this.destroy(
        new NetworkError(`download of ${this.opts.where} failed after ${this.received} bytes${tries}: ${err.message}`, {
          where: this.opts.where,
          cause: err,
        }),
      );
      return;
    }
    void this.resumeAfter(err);
  }

  private async resumeAfter(cause: Error): Promise<void> {
    this.attempt++;
    const offset = this.received;
    this.opts.onResume?.(offset, this.attempt);
    let res: HttpResponse;
    try {
      // A short, growing pause: a peer that just dropped us is often busy for a moment.
      await sleep(retryDelayMs(this.attempt, undefined), this.opts.signal);
      res = await this.reopen(offset);
    } catch (err) {
      this.destroy(toError(err));
      return;
    }
    if (this.destroyed) {
      dropBody(res.body);
      return;
    }
    if (res.status === OK) {
      // The server ignored the Range header: skip what we already have.
      this.skip = offset;
      this.attach(res.body);
      this.body?.resume();
      return;
    }
    const range = CONTENT_RANGE_RE.exec(header(res.headers, "content-range") ?? "");
    if (res.status === PARTIAL_CONTENT && range && Number(range[1]) === offset) {
      this.attach(res.body);
      return;
    }
    await discard(res);
    this.destroy(
      new NetworkError(`download of ${this.opts.where} broke after ${offset} bytes and could not be resumed (HTTP ${res.status})`, {
        where: this.opts.where,
        status: res.status,
        cause,
      }),
    );
  }

  private sizeError(what: string): IntegrityError {
    return new IntegrityError(`size mismatch for ${this.opts.where}: ${what}`, { code: "E_SIZE_MISMATCH", where: this.opts.where });
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.opts.signal?.removeEventListener("abort", this.onAbort);
    const body = this.body;
    this.body = undefined;
    body?.destroy();
    callback(err);
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
