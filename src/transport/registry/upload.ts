import type { Readable } from "node:stream";
import { DrayError, IntegrityError, NetworkError, NotFoundError, RegistryError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import type { Descriptor } from "../../oci/manifest.js";
import type { RegistryClient } from "./client.js";
import type { ErrorContext } from "./errors.js";
import { discard, header, type HttpResponse } from "./http.js";
import type { Scope } from "./scope.js";

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
 *    OCI-Chunk-Min-Length or the caller sets chunkSize; each chunk is a
 *    Buffer, so it is retried, and after a 416 the session is asked where it
 *    stands and the upload goes on from there.
 * `Location` may be relative or absolute and changes after every step.
 */

export interface UploadOptions {
  monolithicMaxBytes: number;
  chunkSize?: number;
  /** An upload session already opened (a mount answered 202). */
  session?: URL;
  signal?: AbortSignal;
}

interface Session {
  url: URL;
  minChunk: number;
}

const OCTET = "application/octet-stream";
const RANGE_RE = /^(?:bytes=)?0-(\d+)$/;
/** Registries that state no minimum but asked for chunks still get sensible ones. */
const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

export async function uploadBlob(client: RegistryClient, repo: string, desc: Descriptor, data: Readable, opts: UploadOptions): Promise<void> {
  const ctx: ErrorContext = { what: `upload of blob ${desc.digest}`, where: client.where(repo) };
  const scopes = client.scopes(repo, "push");
  const signal = opts.signal;
  if (desc.size >= 0 && desc.size <= opts.monolithicMaxBytes) {
    const bytes = await readAll(data, desc.size, ctx);
    await putMonolithic(client, repo, desc, bytes, scopes, ctx, opts.session, signal);
    return;
  }
  const session = opts.session ? { url: opts.session, minChunk: 0 } : await openSession(client, repo, scopes, ctx, signal);
  const chunkSize = Math.min(MAX_CHUNK_BYTES, Math.max(opts.chunkSize ?? 0, session.minChunk));
  let last = session.url;
  try {
    if (chunkSize > 0) {
      last = await patchChunked(client, desc, data, session.url, chunkSize, scopes, ctx, signal);
      await finish(client, repo, desc, last, scopes, ctx, signal);
    } else if (desc.size >= 0) {
      await putStream(client, desc, data, session.url, scopes, ctx, signal);
    } else {
      last = await patchStream(client, desc, data, session.url, scopes, ctx, signal);
      await finish(client, repo, desc, last, scopes, ctx, signal);
    }
  } catch (err) {
    await cancel(client, last, scopes);
    throw err;
  }
}

async function openSession(client: RegistryClient, repo: string, scopes: readonly Scope[], ctx: ErrorContext, signal?: AbortSignal): Promise<Session> {
  const url = await client.api(`${repo}/blobs/uploads/`);
  const res = await client.call({ method: "POST", url, scopes, headers: { "content-length": "0" }, body: Buffer.alloc(0), signal });
  if (res.status !== 202) return client.fail(res, ctx);
  await discard(res);
  const location = header(res.headers, "location");
  if (!location) throw new RegistryError(`registry opened an upload without a Location (${ctx.where})`, { where: ctx.where });
  const min = Number(header(res.headers, "oci-chunk-min-length") ?? "0");
  return { url: new URL(location, url), minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
}

function withDigest(url: URL, digest: Digest): URL {
  const u = new URL(url);
  u.searchParams.set("digest", digest.toString());
  return u;
}

function nextLocation(res: HttpResponse, current: URL): URL {
  const location = header(res.headers, "location");
  return location ? new URL(location, current) : current;
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
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buf.length;
    if (total > size) {
      data.destroy();
      throw new IntegrityError(`${ctx.what}: more than the ${size} bytes of its descriptor`, { code: "E_SIZE_MISMATCH", where: ctx.where });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

async function putMonolithic(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  bytes: Buffer,
  scopes: readonly Scope[],
  ctx: ErrorContext,
  given: URL | undefined,
  signal?: AbortSignal,
): Promise<void> {
  for (let round = 0; ; round++) {
    const session = round === 0 && given ? given : (await openSession(client, repo, scopes, ctx, signal)).url;
    const url = withDigest(session, desc.digest);
    let res: HttpResponse;
    try {
      res = await client.call({ method: "PUT", url, scopes, headers: { "content-type": OCTET }, body: bytes, signal });
    } catch (err) {
      // Out of retries on this session; one more round on a fresh one, then give up.
      if (round === 0 && err instanceof NetworkError && !signal?.aborted) continue;
      throw err;
    }
    if (res.status === 201 || res.status === 204 || res.status === 200) {
      await discard(res);
      return checkStoredDigest(res, desc, ctx);
    }
    // A retried PUT may find its session gone: either the first attempt landed, or the session broke.
    if (round === 0 && (res.status === 404 || res.status === 400 || res.status === 416)) {
      await discard(res);
      if ((await client.headBlob(repo, desc.digest, signal)) === desc.size) return;
      continue;
    }
    return client.fail(res, ctx);
  }
}

/**
 * Sends a stream as one request body. The source's own failure (the caller's
 * digest check) is the real story when it ends the request, not the aborted
 * upload; a network failure cannot be replayed, since the stream is consumed.
 */
async function sendStream(
  client: RegistryClient,
  method: "PATCH" | "PUT",
  url: URL,
  desc: Descriptor,
  data: Readable,
  scopes: readonly Scope[],
  ctx: ErrorContext,
  signal?: AbortSignal,
): Promise<HttpResponse> {
  let streamError: unknown;
  const onError = (err: unknown): void => {
    streamError ??= err;
  };
  data.on("error", onError);
  const headers: Record<string, string> = { "content-type": OCTET };
  if (desc.size >= 0) headers["content-length"] = String(desc.size);
  let res: HttpResponse;
  try {
    res = await client.call({ method, url, scopes, headers, body: data, signal });
  } catch (err) {
    if (streamError !== undefined) throw streamError;
    if (err instanceof NetworkError) {
      throw new NetworkError(`${ctx.what} to ${ctx.where} was interrupted: ${err.message}; a streamed upload cannot be replayed, copy again`, {
        where: ctx.where,
        cause: err,
      });
    }
    throw err;
  } finally {
    data.off("error", onError);
  }
  if (streamError !== undefined) {
    await discard(res);
    throw streamError;
  }
  return res;
}

/**
 * Size known: the whole blob in the closing PUT (the spec's monolithic
 * upload after POST), one round trip less per blob than PATCH + PUT.
 */
async function putStream(client: RegistryClient, desc: Descriptor, data: Readable, session: URL, scopes: readonly Scope[], ctx: ErrorContext, signal?: AbortSignal): Promise<void> {
  const res = await sendStream(client, "PUT", withDigest(session, desc.digest), desc, data, scopes, ctx, signal);
  if (res.status !== 201 && res.status !== 204 && res.status !== 200) return client.fail(res, ctx);
  await discard(res);
  checkStoredDigest(res, desc, ctx);
}

/** Size unknown: one streamed PATCH, then the closing PUT without a body. */
async function patchStream(client: RegistryClient, desc: Descriptor, data: Readable, session: URL, scopes: readonly Scope[], ctx: ErrorContext, signal?: AbortSignal): Promise<URL> {
  const res = await sendStream(client, "PATCH", session, desc, data, scopes, ctx, signal);
  if (res.status !== 202 && res.status !== 201 && res.status !== 204) return client.fail(res, ctx);
  await discard(res);
  const end = rangeEnd(res);
  if (end !== undefined && desc.size > 1 && end + 1 !== desc.size) {
    throw new IntegrityError(`${ctx.what}: the registry holds ${end + 1} of ${desc.size} bytes`, { code: "E_SIZE_MISMATCH", where: ctx.where });
  }
  return nextLocation(res, session);
}

/** Splits a stream into Buffers of exactly `size` bytes (the last may be shorter). */
async function* rechunk(data: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of data) {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
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

async function patchChunked(
  client: RegistryClient,
  desc: Descriptor,
  data: Readable,
  session: URL,
  chunkSize: number,
  scopes: readonly Scope[],
  ctx: ErrorContext,
  signal?: AbortSignal,
): Promise<URL> {
  let url = session;
  let offset = 0;
  for await (const chunk of rechunk(data, chunkSize)) {
    let sent = 0;
    // Each pass sends what the registry does not hold yet of this chunk.
    for (let pass = 0; sent < chunk.length; pass++) {
      if (pass > 3) throw new RegistryError(`${ctx.what}: the registry keeps refusing the chunk at byte ${offset + sent}`, { where: ctx.where });
      const part = chunk.subarray(sent);
      const start = offset + sent;
      const headers = { "content-type": OCTET, "content-range": `${start}-${start + part.length - 1}`, "content-length": String(part.length) };
      const res = await client.call({ method: "PATCH", url, scopes, headers, body: part, signal });
      if (res.status === 416) {
        await discard(res);
        const held = await uploadStatus(client, url, scopes, ctx, signal);
        url = held.url;
        if (held.bytes < offset || held.bytes > offset + chunk.length) {
          throw new RegistryError(`${ctx.what}: the registry holds ${held.bytes} bytes, which this chunk (${offset}-${offset + chunk.length - 1}) cannot continue`, { where: ctx.where });
        }
        sent = held.bytes - offset;
        continue;
      }
      if (res.status !== 202 && res.status !== 201 && res.status !== 204) return client.fail(res, ctx);
      await discard(res);
      url = nextLocation(res, url);
      // Trust the registry's Range: it may have kept less than was sent.
      const end = rangeEnd(res);
      sent = end === undefined ? chunk.length : Math.min(chunk.length, Math.max(sent, end + 1 - offset));
    }
    offset += chunk.length;
  }
  if (desc.size >= 0 && offset !== desc.size) {
    throw new IntegrityError(`${ctx.what}: ${offset} bytes, the descriptor says ${desc.size}`, { code: "E_SIZE_MISMATCH", where: ctx.where });
  }
  return url;
}

/** GET on the session: how many bytes the registry holds, and the session's current Location. */
async function uploadStatus(client: RegistryClient, url: URL, scopes: readonly Scope[], ctx: ErrorContext, signal?: AbortSignal): Promise<{ bytes: number; url: URL }> {
  const res = await client.call({ method: "GET", url, scopes, signal });
  if (res.status !== 204 && res.status !== 200) return client.fail(res, ctx);
  await discard(res);
  const end = rangeEnd(res);
  return { bytes: end === undefined ? 0 : end + 1, url: nextLocation(res, url) };
}

async function finish(client: RegistryClient, repo: string, desc: Descriptor, url: URL, scopes: readonly Scope[], ctx: ErrorContext, signal?: AbortSignal): Promise<void> {
  const res = await client.call({ method: "PUT", url: withDigest(url, desc.digest), scopes, headers: { "content-length": "0" }, body: Buffer.alloc(0), signal });
  if (res.status === 201 || res.status === 204 || res.status === 200) {
    await discard(res);
    return checkStoredDigest(res, desc, ctx);
  }
  // A retried PUT whose first attempt landed finds the session gone: the blob tells.
  if (res.status === 404) {
    await discard(res);
    if ((await client.headBlob(repo, desc.digest, signal)) !== undefined) return;
    throw new NotFoundError(`${ctx.what}: the upload session vanished`, { where: ctx.where, status: 404 });
  }
  return client.fail(res, ctx);
}

function checkStoredDigest(res: HttpResponse, desc: Descriptor, ctx: ErrorContext): void {
  const stored = header(res.headers, "docker-content-digest");
  const parsed = stored === undefined ? undefined : Digest.tryParse(stored);
  if (parsed && parsed.algorithm === desc.digest.algorithm && !parsed.equals(desc.digest)) {
    throw new IntegrityError(`${ctx.what}: the registry stored it as ${parsed}`, { code: "E_DIGEST_MISMATCH", where: ctx.where });
  }
}

/** Best effort: a cancelled session frees the registry's temporary file sooner. */
async function cancel(client: RegistryClient, url: URL, scopes: readonly Scope[]): Promise<void> {
  try {
    const res = await client.call({ method: "DELETE", url, scopes, noRetry: true });
    await discard(res);
  } catch (err) {
    if (!(err instanceof DrayError)) return;
  }
}
