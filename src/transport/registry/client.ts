import type { Readable } from "node:stream";
import { AuthError, type DrayError, RegistryError, UsageError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { MAX_MANIFEST_BYTES, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { TransportOptions } from "../types.js";
import { Authenticator, basicHeader } from "./auth.js";
import * as blobs from "./blobs.js";
import type { CallOptions, RegistryCore, UploadOptions } from "./core.js";
import { errorFromResponse, isVerdict, parseErrorBody, type ErrorContext, type RegistryErrorEntry } from "./errors.js";
import { apiHost, endpointFor, type RegistryEndpoint } from "./http/endpoint.js";
import { DEFAULT_TIMEOUTS, sendWithRetries, type HttpSettings, type HttpTimeouts } from "./http/http.js";
import { discard, header, type HttpResponse } from "./http/response.js";
import { DEFAULT_RETRIES } from "./http/retry.js";
import { throttleFor } from "./http/throttle.js";
import * as manifests from "./manifests.js";
import type { ManifestHead } from "./manifests.js";
import { describeRateLimit, lastRateLimit, recordRateLimit, type RateLimitInfo } from "./ratelimit.js";
import * as referrers from "./referrers.js";
import { repositoryScope, type Scope } from "./scope.js";
import * as tags from "./tags.js";
import { uploadBlob } from "./upload.js";
import { AUTH_REFUSED, FORBIDDEN, NOT_FOUND, OK, REDIRECT_STATUS, UNAUTHORIZED } from "./http/status.js";

export type { CallOptions } from "./core.js";
export { manifestMediaType, type ManifestHead } from "./manifests.js";
import { resolveTls } from "./http/tls.js";
import { redactURL } from "./http/redact.js";
import { defined } from "../../defined.js";

/**
 * The distribution API for one registry: the request core (auth, retries,
 * scheme settling and redirects below every call, typed errors for
 * unexpected answers) and, as one-line methods, the resources, each in its
 * own module: manifests.ts, blobs.ts, upload.ts, tags.ts, referrers.ts (as
 * regclient's scheme/reg/{manifest,blob,tag,referrer}.go). The wire (HTTP,
 * retry, throttle, endpoint, redaction, Link, the undici loader) is in
 * http/. Methods take a repository path (`library/alpine`) so one client
 * serves several repositories of the same registry (a mount from one into
 * another). Nothing outside src/transport/ names this class.
 */

/** Library-level knobs beyond the command line's TransportOptions. */
export interface RegistryClientOptions extends TransportOptions {
  timeouts?: Partial<HttpTimeouts>;
  /** Manifests larger than this are refused (default 4 MiB). */
  maxManifestBytes?: number;
  /** Upload in chunks of this many bytes even when the registry does not ask (OCI-Chunk-Min-Length). */
  chunkSize?: number;
  /** Blobs up to this size are buffered and sent in one PUT (default 1 MiB); larger ones are streamed in a PATCH. */
  monolithicMaxBytes?: number;
  /** Environment for credential lookup (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const MAX_REDIRECTS = 5;

/** One call's state across its attempts: where it goes, with which scopes, and the second chances it used. */
interface CallState {
  url: URL;
  scopes: readonly Scope[];
  /** A stream body is sent once: no re-authentication replays it. */
  streamBody: boolean;
  reauthorized: boolean;
  repinged: boolean;
  hops: number;
}

/** One attempt's answer and how it was sent. */
interface Sent {
  res: HttpResponse;
  /** Sent to the registry's own origin (not a storage redirect). */
  toRegistry: boolean;
  authorized: boolean;
  /** The origin the registry was tried on. */
  tried: string;
}

/** A step's verdict on an answer: keep it (the next step looks), or send the call again as the step changed it. */
const KEEP = "keep";
const AGAIN = "again";
type Verdict = typeof KEEP | typeof AGAIN;

export class RegistryClient implements RegistryCore {
  readonly settings: HttpSettings;
  readonly endpoint: RegistryEndpoint;
  readonly auth: Authenticator;
  readonly maxManifestBytes: number;
  readonly uploadOptions: UploadOptions;
  /** Actions wanted per repository: a destination asks for pull,push on every request so one token serves all. */
  private readonly intents = new Map<string, Set<string>>();
  /** Repositories whose manifest PUT answered `OCI-Subject`: the registry indexes subjects there (see indexesSubjects). */
  readonly subjectIndexing = new Set<string>();

  constructor(
    readonly domain: string,
    readonly options: RegistryClientOptions = {},
  ) {
    const settings: HttpSettings = {
      tls: resolveTls(domain, options, options.env ?? process.env),
      retries: options.retries ?? DEFAULT_RETRIES,
      timeouts: { ...DEFAULT_TIMEOUTS, ...timeoutsFromEnv(options.env ?? process.env), ...options.timeouts },
    };
    if (options.debug) settings.debug = options.debug;
    if (options.notice) settings.notice = options.notice;
    // The host the API answers on: `docker.io` is reached as registry-1.docker.io.
    if (options.throttle) settings.throttle = throttleFor(apiHost(domain), options.throttle);
    this.settings = settings;
    this.endpoint = endpointFor(domain, settings);
    const source: ConstructorParameters<typeof Authenticator>[2] = {};
    if (options.creds) source.creds = options.creds;
    if (options.credsSource !== undefined) source.credsSource = options.credsSource;
    if (options.authFile) source.authFile = options.authFile;
    if (options.env) source.env = options.env;
    if (options.trustRealms) source.trustRealms = options.trustRealms;
    if (options.registryToken !== undefined) source.registryToken = options.registryToken;
    if (options.noCreds === true) source.noCreds = true;
    this.auth = new Authenticator(this.endpoint, settings, source);
    this.maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.uploadOptions = { monolithicMaxBytes: options.monolithicMaxBytes ?? 1024 * 1024 };
    if (options.chunkSize !== undefined) this.uploadOptions.chunkSize = options.chunkSize;
  }

  /** Declares that requests to `repo` will need `actions` (e.g. push); they are asked for from the first token on. */
  want(repo: string, ...actions: string[]): void {
    const have = this.intents.get(repo) ?? new Set<string>(["pull"]);
    for (const a of actions) have.add(a);
    this.intents.set(repo, have);
  }

  /** The scopes for a request on `repo` that needs at least `actions`. */
  scopes(repo: string, ...actions: string[]): Scope[] {
    const all = new Set<string>([...(this.intents.get(repo) ?? ["pull"]), ...actions]);
    return [repositoryScope(repo, [...all].sort())];
  }

  /** `docker://domain/repo` for messages. */
  where(repo: string, ref?: string): string {
    if (ref === undefined) return `docker://${this.domain}/${repo}`;
    return `docker://${this.domain}/${repo}${ref.includes(":") ? "@" : ":"}${ref}`;
  }

  /** An API URL (`/v2/` + path), on the scheme tried first until an answer settles it (call() moves it if needed). */
  async api(path: string, query?: Record<string, string | undefined>): Promise<URL> {
    return this.endpoint.url(path, query);
  }

  /** The registry's API base (`/v2/`) on the scheme in use. */
  get apiBase(): URL {
    return this.endpoint.url("");
  }

  /** Pings the registry's `/v2/` (once per process and registry). */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.endpoint.ensurePinged(this.settings, signal);
  }

  /**
   * One API request: Authorization for the registry's own origin only, one
   * re-authentication on 401 (a stream body is never replayed), redirects
   * followed by hand without Authorization or cookies when they leave the
   * registry's origin. There is no `/v2/` ping first: the answer itself
   * settles the scheme and a 401 brings the challenge; only an answer that
   * cannot tell (see mayStand()) costs a ping, and the request is then sent
   * again where the ping says.
   */
  async call(o: CallOptions): Promise<HttpResponse> {
    const state: CallState = {
      url: o.url,
      scopes: o.scopes,
      streamBody: o.body !== undefined && !Buffer.isBuffer(o.body),
      reauthorized: false,
      repinged: false,
      hops: 0,
    };
    // A stream cannot be sent twice, so it waits for the scheme and challenges.
    if (state.streamBody && !this.endpoint.isSettled) await this.endpoint.ensurePinged(this.settings, o.signal);
    for (;;) {
      const sent = await this.send(o, state);
      if (sent === AGAIN) continue;
      if ((await this.settle(sent, state, o.signal)) === AGAIN) continue;
      if ((await this.reauthorize(sent, state)) === AGAIN) continue;
      if ((await this.redirect(sent, state, o)) === AGAIN) continue;
      return sent.res;
    }
  }

  /**
   * Step 1: Authorization for the registry's own origin only, then the
   * request with retries; a failure another scheme may explain (before an
   * answer settled it) moves the call there once.
   */
  private async send(o: CallOptions, state: CallState): Promise<Sent | typeof AGAIN> {
    const headers: Record<string, string> = { ...o.headers };
    const toRegistry = this.endpoint.isSameOrigin(state.url);
    if (toRegistry) {
      const authorization = await this.auth.authorization(state.scopes, o.signal);
      if (authorization) headers.authorization = authorization;
    }
    const req = { method: o.method, url: state.url, headers, signal: o.signal, ...defined({ body: o.body }) };
    const tried = this.endpoint.baseURL.origin;
    try {
      const policy = o.noRetry ? { replayable: false } : { refusal: (said: Buffer) => refused(parseErrorBody(said), o.refusal) };
      const res = await sendWithRetries(req, this.settings, policy);
      return { res, toRegistry, authorized: headers.authorization !== undefined, tried };
    } catch (err) {
      if (!toRegistry || state.repinged || o.signal?.aborted || !this.endpoint.mayBeOtherScheme(err))
        throw toRegistry ? this.endpoint.explain(err) : err;
      await this.endpoint.ensurePinged(this.settings, o.signal).catch((pingErr: unknown) => {
        throw o.signal?.aborted ? pingErr : this.endpoint.explainPing(err, pingErr);
      });
      state.repinged = true;
      state.url = this.endpoint.rebase(state.url, tried);
      return AGAIN;
    }
  }

  /** Step 2: the registry's answer records its rate limit and settles the scheme; one that cannot tell goes again after a ping. */
  private async settle(sent: Sent, state: CallState, signal?: AbortSignal): Promise<Verdict> {
    if (!sent.toRegistry) return KEEP;
    const limit = recordRateLimit(this.domain, sent.res.headers);
    if (limit) this.settings.debug?.(`rate limit of ${this.domain}: ${describeRateLimit(limit)}`);
    if (state.repinged || (await this.mayStand(sent.res, sent.tried, sent.authorized, state.scopes, signal))) return KEEP;
    state.repinged = true;
    await discard(sent.res);
    state.url = this.endpoint.rebase(state.url, sent.tried);
    return AGAIN;
  }

  /** Step 3: one re-authentication on 401, with the challenge's scopes (never for a stream body: it cannot be sent twice). */
  private async reauthorize(sent: Sent, state: CallState): Promise<Verdict> {
    if (sent.res.status !== UNAUTHORIZED || !sent.toRegistry || state.reauthorized || state.streamBody) return KEEP;
    const next = await this.auth.reauthorize(sent.res, state.scopes);
    if (!next) return KEEP;
    state.reauthorized = true;
    state.scopes = next;
    await discard(sent.res);
    return AGAIN;
  }

  /** Step 4: redirects of a GET or HEAD (blob storage), followed by hand: send() gives no Authorization to another origin. */
  private async redirect(sent: Sent, state: CallState, o: CallOptions): Promise<Verdict> {
    if (!o.followRedirects || !REDIRECT_STATUS.has(sent.res.status)) return KEEP;
    const location = header(sent.res.headers, "location");
    if (!location) return KEEP;
    await discard(sent.res);
    const what = `${o.method} ${redactURL(state.url)}`;
    let next: URL;
    try {
      next = new URL(location, state.url);
    } catch {
      throw new RegistryError(`${what} was redirected to an invalid location`, { where: this.endpoint.domain, status: sent.res.status });
    }
    // Blob storage is HTTP(S); a file: or data: location from a hostile registry is refused in words, not followed.
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new RegistryError(`${what} was redirected to a ${next.protocol} location, which dray does not follow`, {
        where: this.endpoint.domain,
        status: sent.res.status,
      });
    }
    if (state.hops >= MAX_REDIRECTS) {
      throw new RegistryError(`${what} was redirected more than ${MAX_REDIRECTS} times (a redirect loop?)`, {
        where: this.endpoint.domain,
        status: sent.res.status,
      });
    }
    state.hops++;
    state.url = next;
    return AGAIN;
  }

  /**
   * Whether `res` may stand, or the request must go again after a ping: the
   * answer did not show a registry (a bare 4xx: the ping tells the scheme),
   * or it is a 403/404 to a request sent without Authorization while a
   * credential is at hand and no challenge was seen yet (a registry may hide
   * a private repository from anonymous requests: the ping's challenge tells).
   */
  private async mayStand(
    res: HttpResponse,
    tried: string,
    authorized: boolean,
    scopes: readonly Scope[],
    signal?: AbortSignal,
  ): Promise<boolean> {
    const wasSettled = this.endpoint.isSettled;
    const showsRegistry = this.endpoint.settleBy(res);
    if (wasSettled) return true;
    if (showsRegistry) {
      const hidden = (res.status === FORBIDDEN || res.status === NOT_FOUND) && !authorized && this.endpoint.challenges.length === 0;
      if (!hidden || (await this.auth.credentialFor(scopes)) === undefined) return true;
    }
    await this.endpoint.ensurePinged(this.settings, signal);
    return this.endpoint.baseURL.origin === tried && (authorized || this.endpoint.challenges.length === 0);
  }

  /** The rate-limit state this registry last announced in this process (any client of the same domain). */
  rateLimit(): RateLimitInfo | undefined {
    return lastRateLimit(this.domain);
  }

  /**
   * Returns when the answer's status is one of `allowed`, else throws its typed
   * error (the registry's error body read, bounded): go-containerregistry's
   * transport.CheckError, in one place instead of a check per request.
   */
  async expectStatus(res: HttpResponse, allowed: readonly number[], ctx: ErrorContext): Promise<void> {
    if (!allowed.includes(res.status)) await this.fail(res, ctx);
  }

  /** Throws the typed error for an unexpected answer. */
  async fail(res: HttpResponse, ctx: ErrorContext, parsed?: DrayError): Promise<never> {
    const err = parsed ?? (await errorFromResponse(res, ctx));
    const withheld = AUTH_REFUSED.has(res.status) ? this.auth.withheldMessage() : undefined;
    if (withheld) {
      throw new AuthError(`authentication required: ${ctx.what} at ${ctx.where}: ${withheld}`, {
        code: "E_AUTH_FAILED",
        where: ctx.where,
        status: res.status,
        ...(err.registryCode ? { registryCode: err.registryCode } : {}),
      });
    }
    if (res.status === UNAUTHORIZED && (await this.auth.getCredential()) === undefined) {
      throw new AuthError(`authentication required: ${ctx.what} at ${ctx.where}: ${this.auth.missingMessage(this.domain)}`, {
        code: "E_AUTH_FAILED",
        where: ctx.where,
        status: 401,
        ...(err.registryCode ? { registryCode: err.registryCode } : {}),
      });
    }
    if (
      err.registryCode === "NAME_UNKNOWN" &&
      !this.knownOpen() &&
      !this.auth.noCredsAsked() &&
      (await this.auth.getCredential()) === undefined
    ) {
      // Registries (distribution with token auth, GHCR, Harbor) answer an anonymous request for a private
      // repository as for one that does not exist, so the name alone cannot tell the user which it is.
      err.message += `; if it is private, dray login ${this.domain}`;
    }
    throw err;
  }

  /** The registry answered an anonymous `/v2/` ping with 200: it asks no credentials, so no repository hides behind a login. */
  private knownOpen(): boolean {
    return this.endpoint.pingStatus === OK && this.endpoint.challenges.length === 0;
  }

  /** Checks that the configured credential works (`dray login`): Basic via /v2/, Bearer via the token realm. */
  /** "open" when the registry answered the anonymous ping with 200: it asks no credentials, so there is nothing to check or store. */
  async checkLogin(signal?: AbortSignal): Promise<"checked" | "open"> {
    await this.ping(signal);
    if (this.knownOpen()) return "open";
    const cred = await this.auth.getCredential();
    if (!cred) throw new AuthError(`no credentials to check for ${this.domain}`, { code: "E_AUTH_FAILED", where: this.domain });
    if (this.endpoint.challenges.some((c) => c.scheme === "bearer")) {
      await this.auth.checkCredentials(signal);
      return "checked";
    }
    const url = await this.api("");
    const headers: Record<string, string> = {};
    if (cred.identityToken === undefined) headers.authorization = basicHeader(cred);
    const res = await sendWithRetries({ method: "GET", url, headers, signal }, this.settings);
    await discard(res);
    if (AUTH_REFUSED.has(res.status)) {
      throw new AuthError(`${this.domain} refused the credentials from ${cred.source}`, {
        code: "E_AUTH_FAILED",
        where: this.domain,
        status: res.status,
      });
    }
    if (res.status !== OK)
      throw new RegistryError(`${this.domain} answered HTTP ${res.status} to the login check`, { where: this.domain, status: res.status });
    return "checked";
  }

  /**
   * True once a manifest PUT into `repo` was answered with `OCI-Subject`: the
   * OCI distribution spec 1.1 ("Pushing Manifests with Subject") has a registry
   * that processed the pushed manifest's `subject` say so with that header, and
   * only a client that did not get it keeps the `sha256-<hex>` tag schema index.
   */
  indexesSubjects(repo: string): boolean {
    return this.subjectIndexing.has(repo);
  }

  // ---- the resources, each in its module (manifests.ts, blobs.ts, upload.ts, tags.ts, referrers.ts) ----

  probeRateLimit(repo: string, ref: string, signal?: AbortSignal): Promise<{ status: number; rateLimit?: RateLimitInfo }> {
    return manifests.probeRateLimit(this, repo, ref, signal);
  }

  headManifest(repo: string, ref: string, signal?: AbortSignal): Promise<ManifestHead | undefined> {
    return manifests.headManifest(this, repo, ref, signal);
  }

  getManifest(repo: string, ref: string, signal?: AbortSignal): Promise<RawManifest> {
    return manifests.getManifest(this, repo, ref, signal);
  }

  putManifest(repo: string, ref: string, m: RawManifest, signal?: AbortSignal): Promise<void> {
    return manifests.putManifest(this, repo, ref, m, signal);
  }

  deleteManifest(repo: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    return manifests.deleteManifest(this, repo, digest, signal);
  }

  headBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    return blobs.headBlob(this, repo, digest, signal);
  }

  getBlob(repo: string, desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    return blobs.getBlob(this, repo, desc, signal);
  }

  mountBlob(repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<{ mounted: boolean; session?: URL }> {
    return blobs.mountBlob(this, repo, digest, fromRepo, signal);
  }

  /** Cancels an upload session nobody will finish (best effort). */
  cancelUpload(repo: string, session: URL): Promise<void> {
    return blobs.cancelUpload(this, repo, session);
  }

  /** Uploads a blob from a stream (see upload.ts for the protocol choices). */
  async putBlob(repo: string, desc: Descriptor, data: Readable, opts: { session?: URL; signal?: AbortSignal } = {}): Promise<void> {
    await uploadBlob(this, repo, desc, data, { ...this.uploadOptions, ...opts });
  }

  listTags(repo: string, pageSize?: number, signal?: AbortSignal): Promise<string[]> {
    return tags.listTags(this, repo, pageSize, signal);
  }

  catalog(pageSize?: number, signal?: AbortSignal): Promise<string[]> {
    return tags.catalog(this, pageSize, signal);
  }

  referrersApi(
    repo: string,
    digest: Digest,
    artifactType?: string,
    signal?: AbortSignal,
  ): Promise<{ descriptors: Descriptor[]; filtered: boolean } | undefined> {
    return referrers.referrersApi(this, repo, digest, artifactType, signal);
  }
}

/**
 * `DRAY_HTTP_TIMEOUT=SECONDS`: the longest wait for a connection, for response
 * headers and between two body chunks. The defaults (30 s, 120 s, 60 s) suit
 * slow registries; unattended runs that must not sit on a stalled one set less.
 */
export function timeoutsFromEnv(env: NodeJS.ProcessEnv): Partial<HttpTimeouts> {
  const text = env.DRAY_HTTP_TIMEOUT?.trim();
  if (!text) return {};
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`DRAY_HTTP_TIMEOUT expects a number of seconds above 0, got "${text.slice(0, 20)}"`);
  const ms = Math.round(seconds * 1000);
  return { connectMs: ms, headersMs: ms, bodyMs: ms };
}

/** A 5xx not to ask again: a verdict code (errors.ts, VERDICTS), or what the caller's own test says (a foreign layer refused). */
function refused(entries: readonly RegistryErrorEntry[], own: CallOptions["refusal"]): boolean {
  return isVerdict(entries) || (own?.(entries) ?? false);
}
