import type { Readable } from "node:stream";
import { AuthError, type DrayError, IntegrityError, NetworkError, NotFoundError, RegistryError, UsageError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import { MAX_MANIFEST_BYTES, parseManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import { MANIFEST_ACCEPT, MediaType, isIndexType, isManifestType } from "../../oci/mediatype.js";
import type { TransportOptions } from "../types.js";
import { Authenticator, basicHeader } from "./auth.js";
import { ResumableBlobStream } from "./blob-stream.js";
import { apiHost, endpointFor, type RegistryEndpoint } from "./endpoint.js";
import { errorFromResponse, parseErrorBody, type ErrorContext } from "./errors.js";
import {
  DEFAULT_TIMEOUTS,
  discard,
  header,
  readBody,
  sendWithRetries,
  type HttpMethod,
  type HttpResponse,
  type HttpSettings,
  type HttpTimeouts,
  storedDigestMismatch,
} from "./http.js";
import { nextPage, type NextPage } from "./link.js";
import { redactURL } from "./redact.js";
import { describeRateLimit, lastRateLimit, parseRateLimit, recordRateLimit, type RateLimitInfo } from "./ratelimit.js";
import { DEFAULT_RETRIES, isRetryableError, retryDelayMs, sleep } from "./retry.js";
import { CATALOG_SCOPE, repositoryScope, type Scope } from "./scope.js";
import { throttleFor } from "./throttle.js";
import { resolveTls } from "./tls.js";
import { uploadBlob, uploadLocation, type UploadOptions } from "./upload.js";

/**
 * The distribution API for one registry, with auth, retries and redirects
 * handled below every call. Methods take a repository path (`library/alpine`)
 * so one client serves several repositories of the same registry (a mount
 * from one into another). Commands may use it directly (HEAD a manifest,
 * check a login).
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

export interface ManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

const MAX_REDIRECTS = 5;
/** Tries of a manifest PUT that the registry answers DIGEST_INVALID (see putManifest), and the pause before the next, times the try. */
const MANIFEST_DIGEST_ATTEMPTS = 3;
const MANIFEST_DIGEST_RETRY_MS = 150;
const MAX_LIST_PAGE_BYTES = 16 * 1024 * 1024;
/** An error answer read to tell "the API said no" from a web server's page. */
const MAX_ERROR_ANSWER_BYTES = 64 * 1024;
const MAX_PAGES = 10_000;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
/**
 * Answers to a manifest HEAD that mean "ask with GET": Nexus answers 405
 * (merll/docker-registry-util#3 "HEAD not working in Nexus"), distribution
 * 2.2 behind token auth did too (distribution/distribution#1485); proxies
 * and caches in front of registries answer 400, 403 or 501 to a method
 * they do not pass. A GET tells the same, at the price of the body.
 */
const HEAD_REFUSED = new Set([400, 403, 405, 501]);

export interface CallOptions {
  method: HttpMethod;
  url: URL;
  scopes: readonly Scope[];
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** GET/HEAD only: follow redirects (blob storage), dropping Authorization when the origin changes. */
  followRedirects?: boolean;
  /** One attempt only (best-effort clean-ups that must not delay an error). */
  noRetry?: boolean;
}

export class RegistryClient {
  readonly settings: HttpSettings;
  readonly endpoint: RegistryEndpoint;
  readonly auth: Authenticator;
  readonly maxManifestBytes: number;
  readonly uploadOptions: UploadOptions;
  /** Actions wanted per repository: a destination asks for pull,push on every request so one token serves all. */
  private readonly intents = new Map<string, Set<string>>();
  /** Repositories whose manifest PUT answered `OCI-Subject`: the registry indexes subjects there (see indexesSubjects). */
  private readonly subjectIndexing = new Set<string>();

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
    const streamBody = o.body !== undefined && !Buffer.isBuffer(o.body);
    // A stream cannot be sent twice, so it waits for the scheme and challenges.
    if (streamBody && !this.endpoint.isSettled) await this.endpoint.ensurePinged(this.settings, o.signal);
    let scopes = o.scopes;
    let url = o.url;
    let reauthorized = false;
    let repinged = false;
    let hops = 0;
    for (;;) {
      const headers: Record<string, string> = { ...o.headers };
      const toRegistry = this.endpoint.isSameOrigin(url);
      if (toRegistry) {
        const authorization = await this.auth.authorization(scopes, o.signal);
        if (authorization) headers.authorization = authorization;
      }
      const req = { method: o.method, url, headers, signal: o.signal, ...(o.body !== undefined ? { body: o.body } : {}) };
      const tried = this.endpoint.baseURL.origin;
      let res: HttpResponse;
      try {
        res = await sendWithRetries(req, this.settings, o.noRetry ? { replayable: false } : undefined);
      } catch (err) {
        if (!toRegistry || repinged || o.signal?.aborted || !this.endpoint.mayBeOtherScheme(err))
          throw toRegistry ? this.endpoint.explain(err) : err;
        await this.endpoint.ensurePinged(this.settings, o.signal);
        repinged = true;
        url = this.endpoint.rebase(url, tried);
        continue;
      }
      if (toRegistry) {
        const limit = recordRateLimit(this.domain, res.headers);
        if (limit) this.settings.debug?.(`rate limit of ${this.domain}: ${describeRateLimit(limit)}`);
        if (!repinged && !(await this.mayStand(res, tried, headers.authorization !== undefined, scopes, o.signal))) {
          repinged = true;
          await discard(res);
          url = this.endpoint.rebase(url, tried);
          continue;
        }
      }
      if (res.status === 401 && toRegistry && !reauthorized && !streamBody) {
        const next = await this.auth.reauthorize(res, scopes);
        if (next) {
          reauthorized = true;
          scopes = next;
          await discard(res);
          continue;
        }
      }
      if (o.followRedirects && REDIRECT_STATUS.has(res.status) && hops < MAX_REDIRECTS) {
        const location = header(res.headers, "location");
        if (location) {
          hops++;
          await discard(res);
          url = new URL(location, url);
          continue;
        }
      }
      return res;
    }
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
      const hidden = (res.status === 403 || res.status === 404) && !authorized && this.endpoint.challenges.length === 0;
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
   * One HEAD of a manifest for its rate-limit headers (`dray ratelimit`).
   * Docker Hub counts a pull per manifest GET, not per HEAD
   * (docs.docker.com/docker-hub/usage/pulls), so this never falls back to a
   * GET: a registry that refuses HEAD gets reported as such.
   */
  async probeRateLimit(repo: string, ref: string, signal?: AbortSignal): Promise<{ status: number; rateLimit?: RateLimitInfo }> {
    const res = await this.manifestHeadRequest(repo, ref, signal, { noRetry: true });
    if (res.status === 401 || res.status === 403) return this.fail(res, { what: `manifest ${ref}`, where: this.where(repo, ref) });
    const rateLimit = parseRateLimit(res.headers);
    return { status: res.status, ...(rateLimit ? { rateLimit } : {}) };
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
    const withheld = res.status === 401 || res.status === 403 ? this.auth.withheldMessage() : undefined;
    if (withheld) {
      throw new AuthError(`authentication required: ${ctx.what} at ${ctx.where}: ${withheld}`, {
        code: "E_AUTH_FAILED",
        where: ctx.where,
        status: res.status,
        ...(err.registryCode ? { registryCode: err.registryCode } : {}),
      });
    }
    if (res.status === 401 && (await this.auth.getCredential()) === undefined) {
      throw new AuthError(
        `authentication required: ${ctx.what} at ${ctx.where}: no credentials found for ${this.domain} (dray login ${this.domain}, or --creds)`,
        { code: "E_AUTH_FAILED", where: ctx.where, status: 401, ...(err.registryCode ? { registryCode: err.registryCode } : {}) },
      );
    }
    throw err;
  }

  /** Checks that the configured credential works (`dray login`): Basic via /v2/, Bearer via the token realm. */
  async checkLogin(signal?: AbortSignal): Promise<void> {
    await this.ping(signal);
    const cred = await this.auth.getCredential();
    if (!cred) throw new AuthError(`no credentials to check for ${this.domain}`, { code: "E_AUTH_FAILED", where: this.domain });
    if (this.endpoint.challenges.some((c) => c.scheme === "bearer")) {
      await this.auth.checkCredentials(signal);
      return;
    }
    const url = await this.api("");
    const headers: Record<string, string> = {};
    if (cred.identityToken === undefined) headers.authorization = basicHeader(cred);
    const res = await sendWithRetries({ method: "GET", url, headers, signal }, this.settings);
    await discard(res);
    if (res.status === 401 || res.status === 403) {
      throw new AuthError(`${this.domain} refused the credentials from ${cred.source}`, {
        code: "E_AUTH_FAILED",
        where: this.domain,
        status: res.status,
      });
    }
    if (res.status !== 200)
      throw new RegistryError(`${this.domain} answered HTTP ${res.status} to the login check`, { where: this.domain, status: res.status });
  }

  // ---- manifests ----

  /** HEAD of a manifest by tag or digest; undefined when it does not exist. */
  async headManifest(repo: string, ref: string, signal?: AbortSignal): Promise<ManifestHead | undefined> {
    if (this.endpoint.manifestHeadRefused) return this.headByGet(repo, ref, signal);
    const res = await this.manifestHeadRequest(repo, ref, signal, { followRedirects: true });
    if (res.status === 404) return undefined;
    if (HEAD_REFUSED.has(res.status)) {
      this.settings.debug?.(`HEAD of manifest ${ref} answered ${res.status}: asking with GET from now on`);
      this.endpoint.manifestHeadRefused = true;
      return this.headByGet(repo, ref, signal);
    }
    await this.expectStatus(res, [200], { what: `manifest ${ref}`, where: this.where(repo, ref) });
    const digestHeader = header(res.headers, "docker-content-digest");
    const digest = digestHeader === undefined ? undefined : Digest.tryParse(digestHeader);
    // Without a usable header only the bytes can tell: fetch them.
    if (digest === undefined) return this.headByGet(repo, ref, signal);
    if (Digest.isValid(ref) && !digest.equals(ref)) {
      throw new IntegrityError(`registry reports digest ${digest} for manifest ${ref}`, {
        code: "E_DIGEST_MISMATCH",
        where: this.where(repo, ref),
      });
    }
    return {
      digest,
      mediaType: cleanMediaType(header(res.headers, "content-type")) ?? MediaType.OciManifest,
      size: Number(header(res.headers, "content-length") ?? "0"),
    };
  }

  /** A HEAD of a manifest, its (empty) body drained; the caller reads the status and headers. */
  private async manifestHeadRequest(
    repo: string,
    ref: string,
    signal: AbortSignal | undefined,
    opts: { noRetry?: boolean; followRedirects?: boolean },
  ): Promise<HttpResponse> {
    const url = await this.api(`${repo}/manifests/${ref}`);
    const res = await this.call({ method: "HEAD", url, scopes: this.scopes(repo), headers: { accept: MANIFEST_ACCEPT }, signal, ...opts });
    await discard(res);
    return res;
  }

  /** What a HEAD would have said, from a GET (registries that refuse HEAD, or answer it without a digest). */
  private async headByGet(repo: string, ref: string, signal?: AbortSignal): Promise<ManifestHead | undefined> {
    try {
      const m = await this.getManifest(repo, ref, signal);
      return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * GET of a manifest, body capped, digest checked: against `ref` when it is
   * a digest, else against Docker-Content-Digest (which must be valid) when
   * the registry sent one. The returned digest is always computed here.
   */
  async getManifest(repo: string, ref: string, signal?: AbortSignal): Promise<RawManifest> {
    const where = this.where(repo, ref);
    const url = await this.api(`${repo}/manifests/${ref}`);
    let res: HttpResponse;
    let bytes: Buffer;
    for (let attempt = 0; ; attempt++) {
      res = await this.call({
        method: "GET",
        url,
        scopes: this.scopes(repo),
        headers: { accept: MANIFEST_ACCEPT },
        signal,
        followRedirects: true,
      });
      await this.expectStatus(res, [200], { what: `manifest ${ref}`, where });
      try {
        bytes = await readBody(res, this.maxManifestBytes, `manifest ${ref}`);
        break;
      } catch (err) {
        // The retry loop only covers a request up to its headers; a body that
        // breaks off (connection cut mid-manifest) is a GET worth asking again.
        if (attempt >= this.settings.retries || signal?.aborted || !(err instanceof NetworkError) || !isRetryableError(err.cause))
          throw err;
        const wait = retryDelayMs(attempt + 1, undefined);
        this.settings.debug?.(`retrying GET of manifest ${ref} in ${wait} ms: its body broke off`);
        await sleep(wait, signal);
      }
    }
    const expected = Digest.tryParse(ref) ?? headerDigest(res, where);
    const digest = Digest.of(bytes, expected?.algorithm ?? "sha256");
    if (expected && !digest.equals(expected)) {
      const said = Digest.isValid(ref) ? "asked for" : "announced by Docker-Content-Digest";
      throw new IntegrityError(`manifest digest mismatch at ${where}: ${said} ${expected}, got ${digest}`, {
        code: "E_DIGEST_MISMATCH",
        where,
      });
    }
    return { bytes, mediaType: manifestMediaType(header(res.headers, "content-type"), bytes), digest };
  }

  /** PUT of a manifest under a tag or its digest, with its media type; the registry's digest must be ours. */
  async putManifest(repo: string, ref: string, m: RawManifest, signal?: AbortSignal): Promise<void> {
    const where = this.where(repo, ref);
    const url = await this.api(`${repo}/manifests/${ref}`);
    for (let attempt = 1; ; attempt++) {
      // The body is a Buffer, so the retry loop may replay it: every manifest PUT is retried.
      const res = await this.call({
        method: "PUT",
        url,
        scopes: this.scopes(repo, "push"),
        headers: { "content-type": m.mediaType },
        body: m.bytes,
        signal,
      });
      if (res.status === 201 || res.status === 200 || res.status === 202) {
        await discard(res);
        if (header(res.headers, "oci-subject") !== undefined) this.subjectIndexing.add(repo);
        const other = storedDigestMismatch(res, m.digest);
        if (other) throw new IntegrityError(`registry stored manifest ${m.digest} as ${other}`, { code: "E_DIGEST_MISMATCH", where });
        return;
      }
      const err = await errorFromResponse(res, { what: `manifest ${m.digest}`, where });
      // The bytes are ours and hashed, so DIGEST_INVALID here is rarely about them: distribution 2.8
      // answers it while it rewrites (truncates, then writes) the link file of a blob the manifest
      // refers to, e.g. when another image's upload or mount of the same blob into this repository
      // finishes at that moment. Seen under load in the sync tests; asking again a moment later works.
      if (err.registryCode !== "DIGEST_INVALID" || attempt >= MANIFEST_DIGEST_ATTEMPTS) {
        if (mayBeImmutableTag(ref, res.status, err.registryCode) && (await this.tagAlreadyNames(repo, ref, m, err, signal))) return;
        return this.fail(res, { what: `manifest ${m.digest}`, where }, err);
      }
      this.settings.debug?.(`manifest ${m.digest} at ${where}: DIGEST_INVALID, asking again (${attempt}/${MANIFEST_DIGEST_ATTEMPTS - 1})`);
      await sleep(MANIFEST_DIGEST_RETRY_MS * attempt, signal);
    }
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

  /**
   * After a refused tag PUT (immutable tags: ECR answers 400 TAG_INVALID
   * "already exists … cannot be overwritten because the tag is immutable",
   * aws/containers-roadmap#862, kaniko#3481; Harbor 412, Artifactory 403):
   * true when the tag already names our manifest (the copy is done), the
   * immutable-tag error when it names another, false when it names none
   * (the caller reports the refusal as it was).
   */
  private async tagAlreadyNames(repo: string, tag: string, m: RawManifest, refusal: DrayError, signal?: AbortSignal): Promise<boolean> {
    const current = await this.headManifest(repo, tag, signal).catch(() => undefined);
    if (current === undefined) return false;
    if (current.digest.equals(m.digest)) {
      this.settings.debug?.(
        `tag ${tag} refused the PUT (${refusal.registryCode ?? `HTTP ${refusal.status ?? "?"}`}) but already names ${m.digest}: nothing to do`,
      );
      return true;
    }
    throw new RegistryError(
      `tag ${tag} at ${this.where(repo)} is immutable: it names ${current.digest}, and the registry refused to point it at ${m.digest}${refusal.registryCode ? ` (${refusal.registryCode})` : ""}`,
      { where: this.where(repo, tag), ...(refusal.registryCode ? { registryCode: refusal.registryCode } : {}) },
    );
  }

  /** DELETE of a manifest by digest (registries delete by digest only). */
  async deleteManifest(repo: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    const where = this.where(repo, digest.toString());
    const url = await this.api(`${repo}/manifests/${digest}`);
    const res = await this.call({ method: "DELETE", url, scopes: this.scopes(repo, "delete"), signal });
    if (res.status === 405) {
      const err = await errorFromResponse(res, { what: "delete", where });
      err.message = `${err.message}; the registry does not allow deleting (distribution: storage.delete.enabled)`;
      throw err;
    }
    await this.expectStatus(res, [202, 200, 204], { what: `manifest ${digest}`, where });
    await discard(res);
  }

  // ---- blobs ----

  /**
   * HEAD of a blob: its size, or undefined when the repository does not hold
   * it; -1 when the registry redirects to its storage (the blob exists, and a
   * pre-signed storage URL would not answer a HEAD it was not signed for).
   */
  async headBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    const url = await this.api(`${repo}/blobs/${digest}`);
    const res = await this.call({ method: "HEAD", url, scopes: this.scopes(repo), signal });
    await discard(res);
    if (res.status === 404) return undefined;
    if (REDIRECT_STATUS.has(res.status)) return -1;
    await this.expectStatus(res, [200], { what: `blob ${digest}`, where: this.where(repo) });
    return Number(header(res.headers, "content-length") ?? "-1");
  }

  /** A resumable stream of a blob's bytes (sizes checked; the digest is the caller's). */
  async getBlob(repo: string, desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    const where = `blob ${desc.digest} at ${this.where(repo)}`;
    const url = await this.api(`${repo}/blobs/${desc.digest}`);
    const open = async (offset: number): Promise<HttpResponse> => {
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      return this.call({ method: "GET", url, scopes: this.scopes(repo), headers, signal, followRedirects: true });
    };
    const first = await open(0);
    await this.expectStatus(first, [200], { what: `blob ${desc.digest}`, where: this.where(repo) });
    return new ResumableBlobStream(first, open, {
      // size -1: a blob no manifest describes (`dray blob`); the registry's Content-Length is then the size held to.
      size: desc.size >= 0 ? desc.size : Number(header(first.headers, "content-length") ?? Number.NaN),
      where,
      attempts: this.settings.retries,
      ...(signal ? { signal } : {}),
      onResume: (offset, attempt) => this.settings.debug?.(`resuming ${where} at byte ${offset} (attempt ${attempt})`),
    });
  }

  /**
   * Cross-repository mount: true when the registry mounted (201). On 202 the
   * registry opened an upload session instead, returned for the upload to use.
   * A refusal (401/403, unknown source) is "not mounted", never an error.
   */
  async mountBlob(repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<{ mounted: boolean; session?: URL }> {
    const url = await this.api(`${repo}/blobs/uploads/`, { mount: digest.toString(), from: fromRepo });
    const scopes = [...this.scopes(repo, "push"), repositoryScope(fromRepo, ["pull"])];
    let res: HttpResponse;
    try {
      res = await this.call({ method: "POST", url, scopes, headers: { "content-length": "0" }, body: Buffer.alloc(0), signal });
    } catch (err) {
      // The token service may refuse the combined scopes (no pull right on the source, or a service that
      // grants one repository per token, as GitLab's project-scoped tokens do): the blob is uploaded instead.
      if (!(err instanceof AuthError)) throw err;
      this.settings.debug?.(`mount of ${digest} from ${fromRepo} refused by the token service (${err.message}); uploading instead`);
      return { mounted: false };
    }
    await discard(res);
    if (res.status === 201) return { mounted: true };
    const location = header(res.headers, "location");
    if (res.status === 202 && location) return { mounted: false, session: uploadLocation(location, url, url) };
    return { mounted: false };
  }

  /** Uploads a blob from a stream (see upload.ts for the protocol choices). */
  async putBlob(repo: string, desc: Descriptor, data: Readable, opts: { session?: URL; signal?: AbortSignal } = {}): Promise<void> {
    await uploadBlob(this, repo, desc, data, { ...this.uploadOptions, ...opts });
  }

  // ---- listing ----

  /** Every tag of a repository, following `Link` pagination. */
  async listTags(repo: string, pageSize?: number, signal?: AbortSignal): Promise<string[]> {
    const first = await this.api(`${repo}/tags/list`, { n: pageSize?.toString() });
    return this.paginate(first, this.scopes(repo), "tags", { what: "tag list", where: this.where(repo) }, signal);
  }

  /** Every repository of the registry (`/v2/_catalog`), following `Link` pagination. */
  async catalog(pageSize?: number, signal?: AbortSignal): Promise<string[]> {
    const first = await this.api("_catalog", { n: pageSize?.toString() });
    return this.paginate(first, [CATALOG_SCOPE], "repositories", { what: "catalog", where: `docker://${this.domain}` }, signal);
  }

  private async paginate(
    first: URL,
    scopes: readonly Scope[],
    field: "tags" | "repositories",
    ctx: ErrorContext,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const out: string[] = [];
    const seen = new Set<string>();
    let url: URL | undefined = first;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      seen.add(url.toString());
      const res = await this.call({ method: "GET", url, scopes, headers: { accept: "application/json" }, signal });
      await this.expectStatus(res, [200], ctx);
      const body = await readBody(res, MAX_LIST_PAGE_BYTES, ctx.what);
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString("utf8"));
      } catch {
        throw new RegistryError(`${ctx.what} of ${ctx.where} is not JSON`, { where: ctx.where });
      }
      const list = (doc as Record<string, unknown> | null)?.[field];
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list) || list.some((t) => typeof t !== "string"))
          throw new RegistryError(`${ctx.what} of ${ctx.where} is malformed`, { where: ctx.where });
        out.push(...(list as string[]));
      }
      url = this.followable(nextPage(res.headers, url), seen, ctx, out.length);
    }
    return out;
  }

  /**
   * The next page to read, or undefined; a link that cannot be followed
   * (another origin, unreadable, or back to a page already read, which would
   * loop) ends the list with a warning that names it.
   */
  private followable(next: NextPage, seen: ReadonlySet<string>, ctx: ErrorContext, entries: number): URL | undefined {
    let problem = "problem" in next ? next.problem : undefined;
    if ("url" in next && seen.has(next.url.toString()))
      problem = `its Link header loops back to a page already read (${redactURL(next.url)})`;
    if (problem === undefined) return "url" in next ? next.url : undefined;
    this.settings.notice?.(`warning: ${ctx.what} of ${ctx.where} may be incomplete: ${problem}; stopped after ${entries} entries`);
    return undefined;
  }

  // ---- referrers ----

  /**
   * The referrers API's answer (`GET /v2/<name>/referrers/<digest>`), or
   * undefined when the registry has none, which a mirror must tell apart from
   * "no referrers". The spec forbids a 404 from a registry that implements the
   * API, and distribution 2.8 (no API) answers its unknown route with a
   * plain-text "404 page not found". But for a subject they do not hold,
   * Quay answers 400 (quay/quay#3071, PROJQUAY-7523) and Harbor 2.8–2.10
   * answer 404 (goharbor/harbor#18418, changed in 2.11 by #20068), both with
   * the spec's JSON error body: that is the API answering "none here". So a
   * 400/404 carrying an error body is an empty list; without one, with only
   * UNSUPPORTED in it, or a 405, no API.
   * `filtered` says the registry applied `artifactType` itself (OCI-Filters-Applied).
   */
  async referrersApi(
    repo: string,
    digest: Digest,
    artifactType?: string,
    signal?: AbortSignal,
  ): Promise<{ descriptors: Descriptor[]; filtered: boolean } | undefined> {
    const where = this.where(repo, digest.toString());
    const url = await this.api(`${repo}/referrers/${digest}`, { artifactType });
    const res = await this.call({ method: "GET", url, scopes: this.scopes(repo), headers: { accept: MediaType.OciIndex }, signal });
    if (res.status === 405) {
      await discard(res);
      return undefined;
    }
    if (res.status === 404 || res.status === 400) {
      const body = await readBody(res, MAX_ERROR_ANSWER_BYTES, "referrers answer").catch(() => Buffer.alloc(0));
      // UNSUPPORTED is the spec's code for an operation the registry does not implement: no API either.
      const said = parseErrorBody(body).filter((e) => e.code !== "UNSUPPORTED");
      if (said.length === 0) return undefined;
      this.settings.debug?.(`referrers of ${where}: HTTP ${res.status} ${said[0]!.code}, read as the API answering "no referrers"`);
      return { descriptors: [], filtered: false };
    }
    await this.expectStatus(res, [200], { what: "referrers", where });
    // Referrers indexes are manifests in all but name: the same cap.
    const bytes = await readBody(res, this.maxManifestBytes, "referrers index");
    const filtered = (header(res.headers, "oci-filters-applied") ?? "")
      .split(",")
      .map((s) => s.trim())
      .includes("artifactType");
    return { descriptors: indexDescriptors(bytes, where), filtered };
  }
}

function indexDescriptors(bytes: Buffer, where: string): Descriptor[] {
  const parsed = parseManifest(bytes, MediaType.OciIndex, where);
  if (parsed.kind !== "index") throw new IntegrityError(`referrers of ${where} are not an index`, { code: "E_MANIFEST_INVALID", where });
  return parsed.manifests;
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

function headerDigest(res: HttpResponse, where: string): Digest | undefined {
  const value = header(res.headers, "docker-content-digest");
  if (value === undefined) return undefined;
  const d = Digest.tryParse(value.trim());
  if (!d)
    throw new IntegrityError(`registry sent an invalid Docker-Content-Digest "${value.slice(0, 80)}"`, {
      code: "E_DIGEST_MISMATCH",
      where,
    });
  return d;
}

function cleanMediaType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(";")[0]?.trim().toLowerCase();
  return t === "" ? undefined : t;
}

/** The manifest's real media type: the Content-Type when it names one, else the document's field, else its shape. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const declared = cleanMediaType(contentType);
  if (declared && (isManifestType(declared) || isIndexType(declared))) return declared;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    if (typeof doc.mediaType === "string" && doc.mediaType !== "") return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  } catch {
    // Not JSON: the parser refuses it later with a precise message.
  }
  return declared ?? MediaType.OciManifest;
}

/** A refusal that an immutable tag may explain: a PUT by tag answered 400/403/409/412. */
function mayBeImmutableTag(ref: string, status: number, code: string | undefined): boolean {
  if (Digest.isValid(ref)) return false;
  if (status === 409 || status === 412) return true;
  return (
    (status === 400 || status === 403) &&
    (code === undefined || ["TAG_INVALID", "MANIFEST_INVALID", "DENIED", "TAG_IMMUTABLE"].includes(code))
  );
}
