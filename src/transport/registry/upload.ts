import { Readable } from "node:stream";
import { AuthError, IntegrityError, NetworkError, NotFoundError, RegistryError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import type { Descriptor } from "../../oci/manifest.js";
import { cancelUpload, headBlob, lateSignal, uploadLocation } from "./blobs.js";
import type { RegistryCore, UploadOptions } from "./core.js";
import type { ErrorContext } from "./errors.js";
import { storedDigestMismatch, type HttpMethod } from "./http/http.js";
import { discard, header, type HttpResponse } from "./http/response.js";
import { isRetryableError } from "./http/retry.js";
import type { Scope } from "./scope.js";
import {
  ACCEPTED,
  BAD_REQUEST,
  BLOB_STORED,
  CHUNK_ACCEPTED,
  FORBIDDEN,
  NOT_FOUND,
  RANGE_NOT_SATISFIABLE,
  SESSION_STATUS,
  UNAUTHORIZED,
} from "./http/status.js";
import { defined } from "../../defined.js";

/**
 * Blob uploads of the distribution spec, choosing per blob:
 *  - small blobs (size known, ≤ monolithicMaxBytes): buffered, POST then one
 *    PUT with the body; a Buffer can be sent again, so a broken PUT is retried,
 *    on a fresh session when the registry dropped the old one;
 *  - larger blobs: POST, then one PUT ?digest= streaming the body (or, when
 *    the size is unknown, a streamed PATCH and an empty PUT): no buffering,
 *    but a stream cannot be replayed, so a broken upload is a clear
 *    NetworkError, the session is cancelled, and the copy engine starts the
 *    blob again from the source;
 *  - chunked (Content-Range PATCHes) only when the registry asks with
 *    OCI-Chunk-Min-Length or the caller sets chunkSize; each chunk up to
 *    MAX_BUFFERED_CHUNK_BYTES is a Buffer, so it is retried, and after a 416
 *    the session is asked where it stands and the upload goes on from there.
 *    The registry's minimum is honoured whatever its size (see chunkPlan):
 *    larger chunks stream from the source like the streamed PUT.
 * `Location` may be relative or absolute and changes after every step; see
 * uploadLocation for the two it does not take as given.
 */

export type { UploadOptions };

interface Session {
  url: URL;
  minChunk: number;
}

const OCTET = "application/octet-stream";
const RANGE_RE = /^(?:bytes=)?0-(\d+)$/;
/**
 * The largest chunk held in memory. A caller's chunkSize is capped to it; a
 * registry's OCI-Chunk-Min-Length above it is honoured with chunks streamed
 * from the source instead of buffered (see chunkPlan).
 */
const MAX_BUFFERED_CHUNK_BYTES = 64 * 1024 * 1024;

/** How a blob too large for one buffered request is sent once its session is open. */
type ChunkPlan =
  { kind: "put-stream" } | { kind: "patch-stream" } | { kind: "buffered-chunks"; size: number } | { kind: "streamed-chunks"; size: number };

/**
 * The registry's OCI-Chunk-Min-Length (distribution spec 1.1: chunks but the
 * last at least that long) is a minimum, so it is never cut down:
 *  - a minimum as large as the blob: the whole blob is the only, last chunk,
 *    sent as the streamed PUT (nothing buffered);
 *  - a minimum above MAX_BUFFERED_CHUNK_BYTES: chunks of exactly that size,
 *    each streamed from the source with its Content-Length and Content-Range
 *    (never a chunk in memory; a broken one cannot be replayed, so it ends the
 *    upload as a broken streamed PUT does and the copy starts the blob again);
 *    when the size is unknown, the whole blob in one streamed PATCH;
 *  - otherwise buffered chunks of max(minimum, caller's chunkSize capped).
 */
export function chunkPlan(blobSize: number, minChunk: number, callerChunk: number | undefined): ChunkPlan {
  const size = Math.max(minChunk, Math.min(callerChunk ?? 0, MAX_BUFFERED_CHUNK_BYTES));
  if (size === 0 || (minChunk > 0 && blobSize >= 0 && minChunk >= blobSize)) return { kind: blobSize >= 0 ? "put-stream" : "patch-stream" };
  if (size <= MAX_BUFFERED_CHUNK_BYTES) return { kind: "buffered-chunks", size };
  return blobSize >= 0 ? { kind: "streamed-chunks", size } : { kind: "patch-stream" };
}

export async function uploadBlob(client: RegistryCore, repo: string, desc: Descriptor, data: Readable, opts: UploadOptions): Promise<void> {
  await new Upload(client, repo, desc, data, opts.signal).run(opts);
}

/** One blob's upload: what every step needs, held once instead of passed along. */
class Upload {
  private readonly ctx: ErrorContext;
  private readonly scopes: readonly Scope[];
  /** The session's current Location: it changes after every step. */
  private url: URL | undefined;

  constructor(
    private readonly client: RegistryCore,
    private readonly repo: string,
    private readonly desc: Descriptor,
    private readonly data: Readable,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.ctx = { what: `upload of blob ${desc.digest}`, where: client.where(repo) };
    this.scopes = client.scopes(repo, "push");
  }

  async run(opts: UploadOptions): Promise<void> {
    const { desc } = this;
    if (desc.size >= 0 && desc.size <= opts.monolithicMaxBytes) {
      // The session opens while the bytes arrive: the POST's round trip overlaps the source's GET.
      const opening = opts.session ? Promise.resolve(opts.session) : this.openSession().then((s) => s.url);
      opening.catch(() => undefined); // awaited below; a failed read must not leave its rejection unhandled
      let bytes: Buffer;
      try {
        bytes = await readAll(this.data, desc.size, this.ctx);
      } catch (err) {
        this.url = await opening.catch(() => undefined);
        await this.cancel();
        throw err;
      }
      this.url = await opening;
      try {
        await this.putMonolithic(bytes);
      } catch (err) {
        // A failed or interrupted PUT (Ctrl-C) leaves its session open in the registry's storage: cancelled.
        await this.cancel();
        throw err;
      }
      return;
    }
    const session = opts.session ? { url: opts.session, minChunk: 0 } : await this.openSession();
    const plan = chunkPlan(desc.size, session.minChunk, opts.chunkSize);
    this.url = session.url;
    try {
      if (plan.kind === "put-stream") return await this.putStream();
      if (plan.kind === "buffered-chunks") await this.patchChunked(plan.size);
      else if (plan.kind === "streamed-chunks") await this.patchStreamedChunks(plan.size);
      else await this.patchStream();
      await this.finish();
    } catch (err) {
      await this.cancel();
      throw err;
    }
  }

  private async call(
    method: HttpMethod,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | Readable,
    signal: AbortSignal | undefined = this.signal,
  ): Promise<HttpResponse> {
    const res = await this.client.call({
      method,
      url,
      scopes: this.scopes,
      headers,
      ...defined({ body }),
      signal,
    });
    if ((res.status === UNAUTHORIZED || res.status === FORBIDDEN) && !this.client.endpoint.isSameOrigin(url)) {
      // The registry sent the upload to another host (a storage service's pre-signed URL), which gets no credential of ours.
      await discard(res);
      throw new AuthError(
        `${this.ctx.what} to ${this.ctx.where}: the upload location on ${url.host}, where the registry sent it, refused it (HTTP ${res.status}); dray sends no credential for ${this.client.domain} to another host`,
        { code: "E_AUTH_FAILED", where: this.ctx.where, status: res.status },
      );
    }
    return res;
  }

  /** The next step's URL from an answer's Location (the current one when it names none). */
  private next(res: HttpResponse, current: URL): URL {
    const location = header(res.headers, "location");
    // Judged against the registry's API base as settled by now (an earlier answer), see uploadLocation.
    return location ? uploadLocation(location, current, this.client.apiBase) : current;
  }

  private async openSession(): Promise<Session> {
    const url = await this.client.api(`${this.repo}/blobs/uploads/`);
    // A signal while the answer is on the way: awaited a little longer (lateSignal), so the session it opened is cancelled below.
    const late = lateSignal(this.signal);
    let res: HttpResponse;
    try {
      res = await this.call("POST", url, { "content-length": "0" }, Buffer.alloc(0), late.signal);
    } finally {
      late.done();
    }
    await this.client.expectStatus(res, [ACCEPTED], this.ctx);
    await discard(res);
    const location = header(res.headers, "location");
    if (!location) throw new RegistryError(`registry opened an upload without a Location (${this.ctx.where})`, { where: this.ctx.where });
    const min = Number(header(res.headers, "oci-chunk-min-length") ?? "0");
    const session = { url: uploadLocation(location, res.url, res.url), minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
    if (this.signal?.aborted) {
      await cancelUpload(this.client, this.repo, session.url);
      throw this.signal.reason;
    }
    return session;
  }

  /** The whole blob in one PUT on the open session (this.url), which it replaces with a fresh one when that broke. */
  private async putMonolithic(bytes: Buffer): Promise<void> {
    const { desc, signal } = this;
    for (let round = 0; ; round++) {
      if (round > 0) this.url = (await this.openSession()).url;
      let res: HttpResponse;
      try {
        res = await this.call("PUT", withDigest(this.session(), desc.digest), { "content-type": OCTET }, bytes);
      } catch (err) {
        // Out of retries on this session; one more round on a fresh one (the broken one cancelled), then give up.
        if (round === 0 && err instanceof NetworkError && !signal?.aborted) {
          await this.cancel();
          continue;
        }
        throw err;
      }
      // A retried PUT may find its session gone: either the first attempt landed, or the session broke.
      if (round === 0 && (res.status === NOT_FOUND || res.status === BAD_REQUEST || res.status === RANGE_NOT_SATISFIABLE)) {
        await discard(res);
        if ((await headBlob(this.client, this.repo, desc.digest, signal)) === desc.size) return;
        continue;
      }
      return this.stored(res);
    }
  }

  /** A finished upload: the registry must have stored what we sent, under our digest. */
  private async stored(res: HttpResponse): Promise<void> {
    await this.client.expectStatus(res, BLOB_STORED, this.ctx);
    await discard(res);
    const other = storedDigestMismatch(res, this.desc.digest);
    if (other)
      throw new IntegrityError(`${this.ctx.what}: the registry stored it as ${other}`, {
        code: "E_DIGEST_MISMATCH",
        where: this.ctx.where,
      });
  }

  /**
   * Sends the stream as one request body. The source's own failure (the caller's
   * digest check) is the real story when it ends the request, not the aborted
   * upload; a network failure cannot be replayed, since the stream is consumed.
   */
  private async sendStream(
    method: "PATCH" | "PUT",
    url: URL,
    body?: { stream: Readable; headers: Record<string, string> },
  ): Promise<HttpResponse> {
    const { data, desc } = this;
    let streamError: unknown;
    const onError = (err: unknown): void => {
      streamError ??= err;
    };
    data.on("error", onError);
    const headers: Record<string, string> = { "content-type": OCTET, ...body?.headers };
    if (desc.size >= 0 && !body) headers["content-length"] = String(desc.size);
    // undici destroys a request body when the answer comes in, and a copy's stream is a stage of its pipeline,
    // which then fails whole with a bare "Premature close". A registry answers a streamed PUT as soon as it
    // holds Content-Length bytes, which can be before the stream ends: a layout's file read finds its end of
    // file one read later (issue 27 item 26). So undici gets a body of its own, ending at the descriptor's
    // size (it has then written everything before the answer, and the connection stays open), and the rest
    // of `data` is read here, so the checks behind it (digest, a longer source) still finish.
    const whole = body ? undefined : new StreamPieces(data);
    let res: HttpResponse;
    try {
      res = await this.call(method, url, headers, body?.stream ?? whole!.take(desc.size >= 0 ? desc.size : Infinity));
      // Only once the body went out whole: a registry that answered early (a refusal) has said what failed.
      if (whole && desc.size >= 0 && whole.taken === desc.size && !(await whole.ended()))
        throw new IntegrityError(`${this.ctx.what}: more than the ${desc.size} bytes of its descriptor`, {
          code: "E_SIZE_MISMATCH",
          where: this.ctx.where,
        });
    } catch (err) {
      throw this.streamFailure(streamError) ?? this.interrupted(err);
    } finally {
      data.off("error", onError);
    }
    if (streamError !== undefined) {
      await discard(res);
      throw this.streamFailure(streamError) ?? this.interrupted(streamError);
    }
    return res;
  }

  /**
   * The source's own failure seen on the body stream, else undefined: a socket
   * error there (EPIPE, ECONNRESET when the registry hangs up mid-body) is
   * undici's, the upload's failure rather than the source's.
   */
  private streamFailure(streamError: unknown): unknown {
    return streamError === undefined || isRetryableError(streamError) ? undefined : streamError;
  }

  /** A broken streamed request: a NetworkError that says why it is not replayed (the copy engine starts the blob again). */
  private interrupted(err: unknown): unknown {
    const { ctx } = this;
    if (err instanceof NetworkError || isRetryableError(err)) {
      const why = err instanceof Error ? err.message : String(err);
      return new NetworkError(`${ctx.what} to ${ctx.where} was interrupted: ${why}; a streamed upload cannot be replayed, copy again`, {
        where: ctx.where,
        cause: err,
      });
    }
    return err;
  }

  /**
   * Size known: the whole blob in the closing PUT (the spec's monolithic
   * upload after POST), one round trip less per blob than PATCH + PUT.
   */
  private async putStream(): Promise<void> {
    const res = await this.sendStream("PUT", withDigest(this.session(), this.desc.digest));
    await this.stored(res);
  }

  /** Size unknown: one streamed PATCH, then the closing PUT without a body. */
  private async patchStream(): Promise<void> {
    const { desc, ctx } = this;
    const res = await this.sendStream("PATCH", this.session());
    await this.client.expectStatus(res, CHUNK_ACCEPTED, ctx);
    await discard(res);
    const end = rangeEnd(res);
    if (end !== undefined && desc.size > 1 && end + 1 !== desc.size) {
      throw new IntegrityError(`${ctx.what}: the registry holds ${end + 1} of ${desc.size} bytes`, {
        code: "E_SIZE_MISMATCH",
        where: ctx.where,
      });
    }
    this.url = this.next(res, this.session());
  }

  /** Size known, chunks too large to hold: each PATCH streams its `chunkSize` bytes from the source (see chunkPlan). */
  private async patchStreamedChunks(chunkSize: number): Promise<void> {
    const { ctx, desc } = this;
    const pieces = new StreamPieces(this.data);
    for (let offset = 0; offset < desc.size; offset += chunkSize) {
      const length = Math.min(chunkSize, desc.size - offset);
      const headers = { "content-range": `${offset}-${offset + length - 1}`, "content-length": String(length) };
      const res = await this.sendStream("PATCH", this.session(), { stream: pieces.take(length), headers });
      await this.client.expectStatus(res, CHUNK_ACCEPTED, ctx);
      await discard(res);
      this.url = this.next(res, this.session());
      const end = rangeEnd(res);
      if (end !== undefined && end + 1 !== offset + length)
        throw new IntegrityError(`${ctx.what}: the registry holds ${end + 1} bytes after the chunk ending at ${offset + length}`, {
          code: "E_SIZE_MISMATCH",
          where: ctx.where,
        });
    }
    if (!(await pieces.ended()))
      throw new IntegrityError(`${ctx.what}: more than the ${desc.size} bytes of its descriptor`, {
        code: "E_SIZE_MISMATCH",
        where: ctx.where,
      });
  }

  private async patchChunked(chunkSize: number): Promise<void> {
    const { ctx, desc } = this;
    let offset = 0;
    for await (const chunk of rechunk(this.data, chunkSize)) {
      let sent = 0;
      // Each pass sends what the registry does not hold yet of this chunk.
      for (let pass = 0; sent < chunk.length; pass++) {
        if (pass > 3)
          throw new RegistryError(`${ctx.what}: the registry keeps refusing the chunk at byte ${offset + sent}`, { where: ctx.where });
        const part = chunk.subarray(sent);
        const start = offset + sent;
        const headers = {
          "content-type": OCTET,
          "content-range": `${start}-${start + part.length - 1}`,
          "content-length": String(part.length),
        };
        const res = await this.call("PATCH", this.session(), headers, part);
        if (res.status === RANGE_NOT_SATISFIABLE) {
          await discard(res);
          const held = await this.heldBytes();
          if (held < offset || held > offset + chunk.length) {
            throw new RegistryError(
              `${ctx.what}: the registry holds ${held} bytes, which this chunk (${offset}-${offset + chunk.length - 1}) cannot continue`,
              { where: ctx.where },
            );
          }
          sent = held - offset;
          continue;
        }
        await this.client.expectStatus(res, CHUNK_ACCEPTED, ctx);
        await discard(res);
        this.url = this.next(res, this.session());
        // Trust the registry's Range: it may have kept less than was sent.
        const end = rangeEnd(res);
        sent = end === undefined ? chunk.length : Math.min(chunk.length, Math.max(sent, end + 1 - offset));
      }
      offset += chunk.length;
    }
    if (desc.size >= 0 && offset !== desc.size) {
      throw new IntegrityError(`${ctx.what}: ${offset} bytes, the descriptor says ${desc.size}`, {
        code: "E_SIZE_MISMATCH",
        where: ctx.where,
      });
    }
  }

  /** GET on the session: how many bytes the registry holds (the session's Location is updated too). */
  private async heldBytes(): Promise<number> {
    const res = await this.call("GET", this.session(), {});
    await this.client.expectStatus(res, SESSION_STATUS, this.ctx);
    await discard(res);
    this.url = this.next(res, this.session());
    const end = rangeEnd(res);
    return end === undefined ? 0 : end + 1;
  }

  private async finish(): Promise<void> {
    const res = await this.call("PUT", withDigest(this.session(), this.desc.digest), { "content-length": "0" }, Buffer.alloc(0));
    // A retried PUT whose first attempt landed finds the session gone: the blob tells.
    if (res.status === NOT_FOUND) {
      await discard(res);
      if ((await headBlob(this.client, this.repo, this.desc.digest, this.signal)) !== undefined) return;
      throw new NotFoundError(`${this.ctx.what}: the upload session vanished`, { where: this.ctx.where, status: 404 });
    }
    await this.stored(res);
  }

  private session(): URL {
    if (!this.url) throw new Error("upload session used before it was opened");
    return this.url;
  }

  /**
   * Best effort, bounded (cancelUpload): a cancelled session frees the registry's temporary file sooner; its
   * failure changes nothing. A session a mount opened (opts.session) is this upload's too: the destination
   * handed it over and keeps no note of it.
   */
  private async cancel(): Promise<void> {
    const url = this.url;
    this.url = undefined;
    if (url) await cancelUpload(this.client, this.repo, url);
  }
}

function withDigest(url: URL, digest: Digest): URL {
  const u = new URL(url);
  u.searchParams.set("digest", digest.toString());
  return u;
}

/** End of the registry's `Range: 0-N` (bytes it holds = N + 1), undefined when absent. */
function rangeEnd(res: HttpResponse): number | undefined {
  const m = RANGE_RE.exec(header(res.headers, "range") ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Reads a small blob whole; more bytes than the descriptor says is an integrity error at once. */
async function readAll(data: Readable, size: number, ctx: ErrorContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of data) {
    const buf = asBuffer(chunk);
    total += buf.length;
    if (total > size) {
      data.destroy();
      throw new IntegrityError(`${ctx.what}: more than the ${size} bytes of its descriptor`, { code: "E_SIZE_MISMATCH", where: ctx.where });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

function asBuffer(chunk: unknown): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
}

/** Consecutive pieces of one stream, each read only while it is sent: no piece is ever held whole. */
class StreamPieces {
  private readonly source: AsyncIterator<unknown>;
  private rest: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes handed out in pieces so far. */
  taken = 0;

  constructor(data: Readable) {
    this.source = data[Symbol.asyncIterator]();
  }

  /** The next `length` bytes as a stream (fewer when the source ends first). */
  take(length: number): Readable {
    return Readable.from(this.piece(length), { objectMode: false });
  }

  private async *piece(length: number): AsyncGenerator<Buffer> {
    for (let left = length; left > 0 && (await this.fill());) {
      const part = this.rest.subarray(0, left);
      this.rest = this.rest.subarray(part.length);
      left -= part.length;
      this.taken += part.length;
      yield part;
    }
  }

  /** True when the source has no byte left. */
  async ended(): Promise<boolean> {
    return !(await this.fill());
  }

  private async fill(): Promise<boolean> {
    while (this.rest.length === 0 && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else this.rest = asBuffer(next.value);
    }
    return this.rest.length > 0;
  }
}

/** Splits a stream into Buffers of exactly `size` bytes (the last may be shorter). */
async function* rechunk(data: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of data) {
    let buf = asBuffer(chunk);
    while (have + buf.length >= size) {
      const take = size - have;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      have = 0;
      buf = buf.subarray(take);
    }
    if (buf.length > 0) {
      parts.push(buf);
      have += buf.length;
    }
  }
  if (have > 0) yield Buffer.concat(parts, have);
}
