import { parseChallengeHeaders, type Challenge } from "../../auth/challenge.js";
import { DrayError, NetworkError, RegistryError } from "../../errors.js";
import { isLoopbackDomain } from "../../ref/reference.js";
import { discard, headerList, sendWithRetries, type HttpSettings } from "./http.js";
import { networkErrorCode } from "./retry.js";

/**
 * One registry as seen by this process: the API base URL (scheme settled by
 * the first ping), the challenges it answered on `/v2/`, and the token cache
 * shared by every source, destination and reference store that talks to it,
 * so a copy from and to the same registry pings once and reuses tokens.
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

/** TLS verification failures: the server speaks TLS, so falling back to plain HTTP would be wrong. */
const CERT_ERROR_RE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME_MISMATCH/;

export class RegistryEndpoint {
  /** `https://host[:port]` or `http://…`, known after the first ping. */
  private base: URL | undefined;
  private ready: Promise<void> | undefined;
  /** What `/v2/` asked for: empty when it answered 200 without auth. */
  challenges: Challenge[] = [];
  readonly tokens = new Map<string, CachedToken>();
  readonly pendingTokens = new Map<string, Promise<CachedToken>>();
  /** Set once a manifest HEAD was refused (405, 400, 403, 501): every later one is a GET. */
  manifestHeadRefused = false;

  constructor(
    readonly domain: string,
    private readonly insecure: boolean,
  ) {}

  get baseURL(): URL {
    if (!this.base) throw new Error(`registry endpoint ${this.domain} used before ping`);
    return this.base;
  }

  /** An API URL: `/v2/` + `path`, with query parameters. */
  url(path: string, query?: Record<string, string | undefined>): URL {
    const u = new URL(`/v2/${path}`, this.baseURL);
    if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.append(k, v);
    return u;
  }

  /** True when `url` is the registry itself (Authorization may go there). */
  isSameOrigin(url: URL): boolean {
    return this.base !== undefined && url.origin === this.base.origin;
  }

  /** Pings once per process (concurrent callers share the ping); a failed ping is tried again next time. */
  ensureReady(settings: HttpSettings, signal?: AbortSignal): Promise<void> {
    if (!this.ready) {
      this.ready = this.ping(settings, signal);
      this.ready.catch(() => (this.ready = undefined));
    }
    return this.ready;
  }

  /**
   * Schemes to try. Loopback is plain HTTP (README, "Locations"), with HTTPS as the fall-back
   * for a loopback registry that serves TLS; trying plain first saves a failed
   * TLS handshake and loading the CA store on every run against a local
   * registry. Other hosts: https only, or https then http with --insecure.
   */
  private schemes(): Array<"https" | "http"> {
    if (isLoopbackDomain(this.domain)) return ["http", "https"];
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
        if (res.status !== 200 && res.status !== 401 && res.status !== 403) {
          const why = res.status >= 500 ? `registry ${url.origin} is failing` : `${url.origin} does not look like a registry`;
          throw new RegistryError(`${why}: GET /v2/ answered HTTP ${res.status}`, {
            where: this.domain,
            status: res.status,
          });
        }
        const lenient = (h: string): void => settings.debug?.(`WWW-Authenticate of ${this.domain} read leniently: ${h.slice(0, 200)}`);
        this.challenges = res.status === 401 ? parseChallengeHeaders(headerList(res.headers, "www-authenticate"), lenient) : [];
        this.base = new URL(`${scheme}://${host}`);
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
    if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN") return false;
    return !CERT_ERROR_RE.test(code) && !CERT_ERROR_RE.test(err.message);
  }
}

/**
 * A TLS server spoken to in plain HTTP answers 400 (Go: "Client sent an HTTP
 * request to an HTTPS server") or drops the connection; a refused port means
 * nothing listens, so HTTPS would fail too.
 */
function plainHttpRefused(err: unknown): boolean {
  if (err instanceof RegistryError) return err.status === 400;
  if (!(err instanceof NetworkError)) return false;
  const code = networkErrorCode(err.cause) ?? "";
  return code !== "ECONNREFUSED" && code !== "ENOTFOUND" && code !== "EAI_AGAIN";
}

function pingError(domain: string, err: unknown): unknown {
  if (!(err instanceof NetworkError)) return err;
  const text = `${networkErrorCode(err.cause) ?? ""} ${err.message}`;
  if (CERT_ERROR_RE.test(text)) {
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

const endpoints = new Map<string, RegistryEndpoint>();

/** The process-wide endpoint for a registry under given TLS settings. */
export function endpointFor(domain: string, settings: HttpSettings): RegistryEndpoint {
  const key = `${domain}|${settings.insecure}|${settings.caFile ?? ""}`;
  let ep = endpoints.get(key);
  if (!ep) {
    ep = new RegistryEndpoint(domain, settings.insecure);
    endpoints.set(key, ep);
  }
  return ep;
}

/** Forgets pings and tokens (tests that restart a registry on the same port; a long-lived library user). */
export function resetEndpoints(): void {
  endpoints.clear();
}
