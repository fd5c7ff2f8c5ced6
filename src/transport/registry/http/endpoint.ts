import { parseChallengeHeaders, type Challenge } from "../../../auth/challenge.js";
import { DrayError, NetworkError, RegistryError } from "../../../errors.js";
import { isLoopbackDomain } from "../../../ref/reference.js";
import { sendWithRetries, type HttpSettings } from "./http.js";
import { discard, header, headerList, type ResponseHeaders } from "./response.js";
import { networkErrorCode, untilAborted } from "./retry.js";
import { BAD_REQUEST, FORBIDDEN, INTERNAL_SERVER_ERROR, NOT_FOUND, OK, UNAUTHORIZED } from "./status.js";
import { tlsKey } from "./tls.js";

/**
 * One registry as seen by this process: the API base URL (scheme settled by
 * the first answer), the challenges it asked for, and the token cache
 * shared by every source, destination and reference store that talks to it,
 * so a copy from and to the same registry settles once and reuses tokens.
 */

export interface CachedToken {
  token: string;
  /** `credential|realm|service`: which tokens may stand in for each other. */
  owner: string;
  /** The scopes it was asked for (merged, sorted). */
  scopes: string[];
  /** Epoch ms after which the token is not used any more (a margin before the real expiry). */
  expiresAt: number;
}

/** Docker Hub's API lives on another host than its name. */
export function apiHost(domain: string): string {
  return domain === "docker.io" || domain === "index.docker.io" ? "registry-1.docker.io" : domain;
}

const API_VERSION = "docker-distribution-api-version";
/** Answers that alone do not show a registry (see settleBy). */
const UNSETTLING: ReadonlySet<number> = new Set([BAD_REQUEST, FORBIDDEN, NOT_FOUND]);

/** TLS verification failures: the server speaks TLS, so falling back to plain HTTP would be wrong. */
const CERT_ERROR_RE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME_MISMATCH/;

export class RegistryEndpoint {
  /** `https://host[:port]` or `http://…`: the first scheme to try until an answer settles it. */
  private base: URL | undefined;
  /** True once an answer showed a registry on `base` (a ping, or an answer to a real request). */
  private settled = false;
  private pinged: Promise<void> | undefined;
  /** What the registry asked for (a ping's or a 401's WWW-Authenticate): empty until one did. */
  challenges: Challenge[] = [];
  readonly tokens = new Map<string, CachedToken>();
  readonly pendingTokens = new Map<string, Promise<CachedToken>>();
  /** Set once a manifest HEAD was refused (405, 400, 403, 501): every later one is a GET. */
  manifestHeadRefused = false;
  /** The status of the anonymous `/v2/` ping, once one answered: 200 means the registry asks no credentials at all. */
  pingStatus: number | undefined;

  constructor(
    readonly domain: string,
    private readonly insecure: boolean,
    /** A CA file or client certificate was given: the registry speaks TLS, even on loopback. */
    private readonly tlsExpected = false,
  ) {}

  get baseURL(): URL {
    return (this.base ??= new URL(`${this.schemes()[0]}://${apiHost(this.domain)}`));
  }

  get isSettled(): boolean {
    return this.settled;
  }

  /** An API URL: `/v2/` + `path`, with query parameters. */
  url(path: string, query?: Record<string, string | undefined>): URL {
    const u = new URL(`/v2/${path}`, this.baseURL);
    if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.append(k, v);
    return u;
  }

  /** True when `url` is the registry itself (Authorization may go there). */
  isSameOrigin(url: URL): boolean {
    return url.origin === this.baseURL.origin;
  }

  /** `url` moved onto the settled scheme when it was made for the one tried first. */
  rebase(url: URL, triedOrigin: string): URL {
    return url.origin === triedOrigin ? new URL(`${url.pathname}${url.search}`, this.baseURL) : url;
  }

  /**
   * No `/v2/` ping before the first request (issue 17: it is a round trip on
   * every run; containerd's resolver and regclient do without one too): the
   * first answer settles the scheme when it shows a registry. A 400, 403 or
   * 404 without Docker-Distribution-API-Version (distribution sends it on
   * every answer) is left to a ping: a TLS server spoken to in plain HTTP
   * answers a bare 400, and a web server that is no registry a bare 404.
   */
  settleBy(res: { status: number; headers: ResponseHeaders }): boolean {
    if (!this.settled && (!UNSETTLING.has(res.status) || header(res.headers, API_VERSION) !== undefined)) this.settled = true;
    return this.settled;
  }

  /** After a network error before anything settled: whether the other scheme may be the right one (a ping tells). */
  mayBeOtherScheme(err: unknown): boolean {
    const schemes = this.schemes();
    const tried = this.baseURL.protocol.slice(0, -1);
    return !this.settled && schemes.length > 1 && schemes[0] === tried && this.mayFallBack(tried, err);
  }

  /** The error of a request before anything settled, with the certificate hint a ping would give. */
  explain(err: unknown): unknown {
    return this.settled ? err : pingError(this.domain, err);
  }

  /**
   * A ping after a request failed, failing too: its answer or certificate complaint
   * is the telling one; a network failure reads as the request the user made, not `/v2/`.
   */
  explainPing(requestErr: unknown, pingErr: unknown): unknown {
    if (!(pingErr instanceof NetworkError)) return pingErr; // an answer: "does not look like a registry", "is failing"
    const explained = pingError(this.domain, pingErr);
    return explained !== pingErr ? explained : this.explain(requestErr);
  }

  /**
   * Pings `/v2/` once per process (concurrent callers share it; a failed ping
   * is tried again next time): what `dray login` checks, and what tells the
   * scheme and challenges when a real request's answer could not.
   */
  ensurePinged(settings: HttpSettings, signal?: AbortSignal): Promise<void> {
    if (!this.pinged) {
      this.pinged = this.ping(settings, signal);
      this.pinged.catch(() => (this.pinged = undefined));
    }
    return untilAborted(this.pinged, signal);
  }

  /**
   * Schemes to try. Loopback is plain HTTP (README, "Locations"), with HTTPS as the fall-back
   * for a loopback registry that serves TLS; trying plain first saves a failed
   * TLS handshake and loading the CA store on every run against a local
   * registry; with --ca-file it is HTTPS first there too. Other hosts: https
   * only, or https then http with --insecure.
   */
  private schemes(): Array<"https" | "http"> {
    if (isLoopbackDomain(this.domain)) return this.tlsExpected ? ["https", "http"] : ["http", "https"];
    return this.insecure ? ["https", "http"] : ["https"];
  }

  private async ping(settings: HttpSettings, signal?: AbortSignal): Promise<void> {
    const host = apiHost(this.domain);
    // The last attempt's error is the telling one: after a fall-back it is the TLS failure, not the plain-HTTP refusal.
    let lastError: unknown;
    for (const scheme of this.schemes()) {
      const url = new URL(`${scheme}://${host}/v2/`);
      try {
        const res = await sendWithRetries({ method: "GET", url, signal }, settings);
        await discard(res);
        if (res.status !== OK && res.status !== UNAUTHORIZED && res.status !== FORBIDDEN) {
          const why =
            res.status >= INTERNAL_SERVER_ERROR ? `registry ${url.origin} is failing` : `${url.origin} does not look like a registry`;
          throw new RegistryError(`${why}: GET /v2/ answered HTTP ${res.status}`, {
            where: this.domain,
            status: res.status,
          });
        }
        const lenient = (h: string): void => settings.debug?.(`WWW-Authenticate of ${this.domain} read leniently: ${h.slice(0, 200)}`);
        this.pingStatus = res.status;
        this.challenges = res.status === UNAUTHORIZED ? parseChallengeHeaders(headerList(res.headers, "www-authenticate"), lenient) : [];
        this.base = new URL(`${scheme}://${host}`);
        this.settled = true;
        return;
      } catch (err) {
        if (signal?.aborted) throw err;
        lastError = err;
        if (!this.mayFallBack(scheme, err)) break;
      }
    }
    throw pingError(this.domain, lastError);
  }

  /** After a failed https attempt, plain HTTP is tried only when TLS itself failed (not a refused port, not a bad certificate). */
  private mayFallBack(scheme: string, err: unknown): boolean {
    if (scheme === "http") return plainHttpRefused(err);
    if (!(err instanceof NetworkError)) return false;
    const code = networkErrorCode(err.cause) ?? "";
    if (NOT_THE_SCHEME.has(code)) return false;
    // A TLS alert came from a server that speaks TLS (it wants a client certificate, or refused ours): plain HTTP cannot help.
    if (TLS_ALERT_RE.test(code) || TLS_ALERT_RE.test(err.message) || /client certificate/.test(err.message)) return false;
    return !CERT_ERROR_RE.test(code) && !CERT_ERROR_RE.test(err.message);
  }
}

/**
 * A TLS server spoken to in plain HTTP answers 400 (Go: "Client sent an HTTP
 * request to an HTTPS server") or drops the connection; a refused port means
 * nothing listens, so HTTPS would fail too.
 */
function plainHttpRefused(err: unknown): boolean {
  if (err instanceof RegistryError) return err.status === BAD_REQUEST;
  if (!(err instanceof NetworkError)) return false;
  return !NOT_THE_SCHEME.has(networkErrorCode(err.cause) ?? "");
}

/**
 * Failures the other scheme cannot mend: no such host, nothing listening, and
 * a server that accepted the connection and then stayed silent (a TLS server
 * spoken to in plain HTTP answers 400 or hangs up at once; it does not wait).
 */
const NOT_THE_SCHEME = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "ETIMEDOUT",
]);

function pingError(domain: string, err: unknown): unknown {
  if (!(err instanceof NetworkError)) return err;
  const text = `${networkErrorCode(err.cause) ?? ""} ${err.message}`;
  if (CERT_ERROR_RE.test(text) && !/client certificate/.test(err.message)) {
    return new NetworkError(
      `${err.message}; the certificate of ${domain} is not trusted (use --ca-file FILE, or --insecure to skip verification)`,
      {
        where: domain,
        cause: err.cause,
      },
    );
  }
  return err instanceof DrayError ? err : new NetworkError(String(err), { where: domain });
}

/** OpenSSL's names for an alert the peer sent (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, "sslv3 alert bad certificate"). */
const TLS_ALERT_RE = /_ALERT_|\balert\b/i;

const endpoints = new Map<string, RegistryEndpoint>();

/** The process-wide endpoint for a registry under given TLS settings. */
export function endpointFor(domain: string, settings: HttpSettings): RegistryEndpoint {
  const key = `${domain}|${tlsKey(settings.tls)}`;
  let ep = endpoints.get(key);
  if (!ep) {
    ep = new RegistryEndpoint(domain, settings.tls.insecure, settings.tls.caFiles.length > 0 || settings.tls.client !== undefined);
    endpoints.set(key, ep);
  }
  return ep;
}

/** Forgets pings and tokens (tests that restart a registry on the same port; a long-lived library user). */
export function resetEndpoints(): void {
  endpoints.clear();
}
