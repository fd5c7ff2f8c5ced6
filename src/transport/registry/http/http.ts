import { statSync } from "node:fs";
import type { Readable } from "node:stream";
import type { Agent, Dispatcher, EnvHttpProxyAgent, buildConnector } from "undici";
import { IoError, NetworkError, fsReason } from "../../../errors.js";
import { Digest } from "../../../oci/digest.js";
import { isLoopbackDomain } from "../../../ref/reference.js";
import { stopwatch } from "../../../clock.js";
import { caFilePem } from "../../ca-file.js";
import { translateError } from "./failure.js";
import { proxyConfigured } from "./proxy.js";
import { DEFAULT_BODY_MS, discard, header, readErrorBody, type HttpResponse, type ResponseBody } from "./response.js";
import { redactURL } from "./redact.js";
import { INTERNAL_SERVER_ERROR } from "./status.js";
import type { Release, Throttle } from "./throttle.js";
import { loadAgent, loadBuildConnector, loadProxyAgent } from "./undici.cjs";
import { probeTlsAlert, readClientPem, tlsKey, type ClientPair, type TlsSettings } from "./tls.js";
import { afterRetries, isRetryableError, isRetryableStatus, networkErrorCode, retryDelayMs, sleep, DEFAULT_RETRIES } from "./retry.js";

/**
 * The HTTP layer of the registry transport: one undici dispatcher per
 * process and TLS setting (keep-alive, a bounded pool per host, proxies from
 * the environment), one request at a time with timing for `--debug`, and the
 * retry loop. Knows nothing about registries, auth or redirects.
 */

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HttpTimeouts {
  /** TCP + TLS connect. */
  connectMs: number;
  /** From the end of the request to the response headers. */
  headersMs: number;
  /** Longest silence between two body chunks: a stalled server fails instead of hanging. */
  bodyMs: number;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { connectMs: 30_000, headersMs: 120_000, bodyMs: DEFAULT_BODY_MS };
/** Connections per registry host; enough for --jobs blobs plus manifest traffic. */
const CONNECTIONS_PER_HOST = 16;
const KEEP_ALIVE_MS = 30_000;
const USER_AGENT = "dray/0.1";

export interface HttpSettings {
  /** CAs, client certificate and verification for this registry's host (tls.ts). */
  tls: TlsSettings;
  retries: number;
  timeouts: HttpTimeouts;
  debug?: (line: string) => void;
  notice?: (message: string) => void;
  /** The registry host's throttle (sync's per-registry bounds): counts the requests to that host only. */
  throttle?: Throttle;
}

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer may be sent again; a stream is consumed by the first attempt and is never replayed. */
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

const dispatchers = new Map<string, Promise<Dispatcher>>();

function readTlsFile(file: string, what: string): string {
  try {
    return readClientPem(file);
  } catch (err) {
    throw new IoError(`cannot read ${what} ${file}: ${fsReason(err)}`, { where: file, cause: err });
  }
}

function connectOptions(settings: HttpSettings): Record<string, unknown> {
  const tls = settings.tls;
  const connect: Record<string, unknown> = { timeout: settings.timeouts.connectMs };
  if (tls.insecure) connect.rejectUnauthorized = false;
  if (tls.caFiles.length > 0) {
    // Extra CAs *beside* the system ones: giving `ca` alone would replace them.
    // node:tls only when a CA file is given: most runs never need it loaded.
    const { rootCertificates } = process.getBuiltinModule("node:tls");
    connect.ca = [...rootCertificates, ...tls.caFiles.map(caFilePem)];
  }
  return connect;
}

/**
 * A connector that presents the client certificate, reading the pair again
 * when either file changed since the last connection: a long sync picks up a
 * rotated certificate on its next new connection (pooled ones keep theirs).
 */
function rotatingClientConnector(base: Record<string, unknown>, pair: ClientPair): buildConnector.connector {
  const buildConnector = loadBuildConnector();
  let stamp = "";
  let connector: buildConnector.connector | undefined;
  return (options, callback) => {
    const now = [pair.cert, pair.key].map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join("|");
    if (connector === undefined || now !== stamp) {
      try {
        connector = buildConnector({
          ...base,
          cert: readTlsFile(pair.cert, "client certificate"),
          key: readTlsFile(pair.key, "client key"),
        });
        stamp = now;
      } catch (err) {
        callback(err as Error, null);
        return;
      }
    }
    connector(options, callback);
  };
}

/**
 * The shared dispatcher for a URL. Loopback never goes through a proxy (as
 * Go's ProxyFromEnvironment), everything else honours HTTPS_PROXY /
 * HTTP_PROXY / NO_PROXY when set.
 */
export function dispatcherFor(url: URL, settings: HttpSettings): Promise<Dispatcher> {
  const viaProxy = proxyConfigured() && !isLoopbackDomain(url.host);
  const t = settings.timeouts;
  const key = [viaProxy, tlsKey(settings.tls), t.connectMs, t.headersMs, t.bodyMs].join("|");
  let found = dispatchers.get(key);
  if (!found) {
    found = (async (): Promise<Dispatcher> => {
      const connect = connectOptions(settings);
      const options: Agent.Options = {
        connections: CONNECTIONS_PER_HOST,
        keepAliveTimeout: KEEP_ALIVE_MS,
        headersTimeout: t.headersMs,
        bodyTimeout: t.bodyMs,
        connect: connect as Agent.Options["connect"],
      };
      const client = settings.tls.client;
      if (!viaProxy) {
        if (client) options.connect = rotatingClientConnector(connect, client);
        return new (loadAgent())(options);
      }
      if (client)
        Object.assign(connect, { cert: readTlsFile(client.cert, "client certificate"), key: readTlsFile(client.key, "client key") });
      // Through a proxy undici makes the registry's TLS connection with `requestTls`, not `connect`
      // (undici/lib/dispatcher/proxy-agent.js): without it --ca-file and --insecure were ignored.
      return new (loadProxyAgent())({ ...options, requestTls: connect as EnvHttpProxyAgent.Options["requestTls"] });
    })();
    found.catch(() => dispatchers.delete(key));
    dispatchers.set(key, found);
  }
  return found;
}

/** Closes every pooled connection (end of a run, end of a test file). */
export async function closeDispatchers(): Promise<void> {
  const all = [...dispatchers.values()];
  dispatchers.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
}

/** Gives the throttle slot back once the body is read, dumped or destroyed (a HEAD's empty body too, when discarded). */
function releaseWhenDone(body: ResponseBody, release: Release): void {
  body.once("end", release);
  body.once("close", release);
  body.once("error", release);
}

/** One attempt, logged for --debug as `METHOD URL -> STATUS (ms)`. */
export async function sendOnce(req: HttpRequest, settings: HttpSettings): Promise<HttpResponse> {
  const dispatcher = await dispatcherFor(req.url, settings);
  const throttle = settings.throttle;
  const release = throttle && throttle.host === req.url.host ? await throttle.acquire(req.signal ?? undefined) : undefined;
  try {
    const res = await sendThrough(dispatcher, req, settings);
    if (release) releaseWhenDone(res.body, release);
    return res;
  } catch (err) {
    release?.();
    throw err;
  }
}

async function sendThrough(dispatcher: Dispatcher, req: HttpRequest, settings: HttpSettings): Promise<HttpResponse> {
  await connectionsSettled();
  const elapsed = stopwatch();
  const headers: Record<string, string> = { "user-agent": USER_AGENT, ...req.headers };
  try {
    const res = await dispatcher.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: req.method,
      headers,
      body: req.body ?? null,
      signal: req.signal ?? null,
      // PUT/PATCH of manifests and blobs must not be replayed by undici itself: the retry loop decides.
      idempotent: req.method === "GET" || req.method === "HEAD",
      // undici closes the connection after every HEAD (`connection: close`), in case a server sends a body
      // anyway (undici issue #258). Registries answer HEAD by the distribution spec, headers only, and dray
      // sends one HEAD per blob and manifest: keep the connection (a new one is a round trip, three with TLS).
      ...(req.method === "HEAD" ? { reset: false } : {}),
    });
    settings.debug?.(`${req.method} ${redactURL(req.url)} -> ${res.statusCode} (${Math.round(elapsed() * 1000)} ms)`);
    return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url, bodyMs: settings.timeouts.bodyMs };
  } catch (err) {
    settings.debug?.(`${req.method} ${redactURL(req.url)} -> ${networkErrorCode(err) ?? "error"} (${Math.round(elapsed() * 1000)} ms)`);
    throw translateError((await tlsAlertBehind(err, req, settings)) ?? err, req, settings.timeouts, settings.tls);
  }
}

/**
 * The TLS alert behind a TLS connection closed before a single byte came
 * back (see probeTlsAlert), so the error can say "asked for a client
 * certificate" or "refused the certificate" instead of "other side closed".
 */
async function tlsAlertBehind(err: unknown, req: HttpRequest, settings: HttpSettings): Promise<Error | undefined> {
  const socket = (err as { socket?: { bytesRead?: number } }).socket;
  if (req.url.protocol !== "https:" || networkErrorCode(err) !== "UND_ERR_SOCKET" || socket?.bytesRead !== 0 || req.signal?.aborted)
    return undefined;
  const options = connectOptions(settings);
  const client = settings.tls.client;
  if (client) Object.assign(options, { cert: readTlsFile(client.cert, "client certificate"), key: readTlsFile(client.key, "client key") });
  const alert = await probeTlsAlert(req.url, options);
  return alert && /_ALERT_/.test(networkErrorCode(alert) ?? "") ? alert : undefined;
}

/**
 * One turn of the event loop before a request, so that a connection whose
 * last response was just read counts as free again. undici's pool marks it
 * free a tick after the body ends; a request sent at once (the next step of a
 * sequence: ping, manifest, HEAD) found every connection busy and opened a
 * new one, which costs a round trip (three with TLS). Measured behind the
 * bench's delay proxy: a re-copy made 3 connections for 3 requests, now 1.
 */
function connectionsSettled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface RetryPolicy {
  /** False when the request body is a stream: one attempt only (default: true for no body or a Buffer). */
  replayable?: boolean;
  /**
   * Given the error body of a 5xx (its first MAX_ERROR_BODY bytes, readErrorBody), true when it is a verdict on what
   * was sent, which asking again will not change: that answer is returned at once, its body in `said`.
   */
  refusal?: (said: Buffer) => boolean;
}

/**
 * Sends with retries on 408/429/5xx and on resets and timeouts, waiting as
 * `Retry-After` says or with jittered exponential backoff. The last answer
 * (even a retryable status) is returned; the last network error is thrown.
 */
export async function sendWithRetries(req: HttpRequest, settings: HttpSettings, policy?: RetryPolicy): Promise<HttpResponse> {
  const replayable = policy?.replayable ?? !(req.body !== undefined && !Buffer.isBuffer(req.body));
  const retries = replayable ? Math.max(0, settings.retries ?? DEFAULT_RETRIES) : 0;
  for (let attempt = 0; ; attempt++) {
    let res: HttpResponse;
    try {
      res = await sendOnce(req, settings);
    } catch (err) {
      if (req.signal?.aborted || !isRetryableError((err as { cause?: unknown }).cause ?? err)) throw err;
      if (attempt >= retries) throw err instanceof NetworkError && attempt > 0 ? retriedError(err, attempt) : err;
      const wait = retryDelayMs(attempt + 1, undefined);
      settings.debug?.(`retrying ${req.method} ${redactURL(req.url)} in ${wait} ms after ${networkErrorCode(err) ?? "error"}`);
      await sleep(wait, req.signal);
      continue;
    }
    if (!isRetryableStatus(res.status)) return res;
    if (attempt >= retries) return attempt > 0 ? { ...res, retries: attempt } : res;
    const said = policy?.refusal && res.status >= INTERNAL_SERVER_ERROR ? await readErrorBody(res).catch(() => undefined) : undefined;
    if (said && policy?.refusal?.(said)) return attempt > 0 ? { ...res, said, retries: attempt } : { ...res, said };
    const wait = retryDelayMs(attempt + 1, header(res.headers, "retry-after"));
    if (!said) await discard(res);
    settings.debug?.(`retrying ${req.method} ${redactURL(req.url)} in ${wait} ms after HTTP ${res.status}`);
    await sleep(wait, req.signal);
  }
}

/** The last attempt's error, saying that it was tried again (the message a user reads to raise --retries). */
function retriedError(err: NetworkError, retries: number): NetworkError {
  return new NetworkError(`${err.message}${afterRetries(retries)}`, { ...(err.where ? { where: err.where } : {}), cause: err.cause });
}

/** The digest a registry says it stored (Docker-Content-Digest), when it names another of the same algorithm than `expected`. */
export function storedDigestMismatch(res: HttpResponse, expected: Digest): Digest | undefined {
  const stored = header(res.headers, "docker-content-digest");
  const parsed = stored === undefined ? undefined : Digest.tryParse(stored);
  return parsed && parsed.algorithm === expected.algorithm && !parsed.equals(expected) ? parsed : undefined;
}
