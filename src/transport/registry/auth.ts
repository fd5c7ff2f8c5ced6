import { createHash } from "node:crypto";
import { findChallenge, parseChallengeHeaders, type Challenge } from "../../auth/challenge.js";
import { resolveCredentials, type CredentialLookup, type RegistryCredential } from "../../auth/credentials.js";
import { AuthError, DrayError, RegistryError } from "../../errors.js";
import { hostOf, isLoopbackDomain } from "../../ref/reference.js";
import type { CachedToken, RegistryEndpoint } from "./endpoint.js";
import { headerList, readBody, sendWithRetries, type HttpResponse, type HttpSettings } from "./http.js";
import { mergeScopes, scopesCover, scopesOfChallenge, type Scope } from "./scope.js";

/**
 * The Authorization header for a registry request: Basic with the
 * credential, or a Bearer token from the challenge's realm (cached per
 * registry, credential and scope set until shortly before it expires).
 *
 * A credential is only ever sent to the registry it belongs to. When the
 * token realm is on another host, the credential goes there only if that
 * host is the registry's own domain family (a parent or child domain, Docker
 * Hub's auth.docker.io) or if the user's credential files hold the very same
 * credential for the realm's host; otherwise the token is requested
 * anonymously and a notice says why.
 */

const MAX_TOKEN_BODY = 1024 * 1024;
const DEFAULT_TOKEN_SECONDS = 60;
/** Visible ASCII only: a token goes into a header, so anything else is refused rather than sent. */
const TOKEN_RE = /^[\x21-\x7e]+$/;

export type CredentialSource = Omit<CredentialLookup, "domain">;

export class Authenticator {
  private credential: Promise<RegistryCredential | undefined> | undefined;
  private noticed = new Set<string>();
  private readonly realmDecisions = new Map<string, Promise<RegistryCredential | undefined>>();

  constructor(
    private readonly endpoint: RegistryEndpoint,
    private readonly settings: HttpSettings,
    private readonly source: CredentialSource,
  ) {}

  /** The credential for this registry (resolved once per authenticator). */
  getCredential(): Promise<RegistryCredential | undefined> {
    this.credential ??= resolveCredentials({ ...this.source, domain: this.endpoint.domain });
    return this.credential;
  }

  /** The Authorization header value for `scopes`, or undefined when the registry asked for none. */
  async authorization(scopes: readonly Scope[], signal?: AbortSignal): Promise<string | undefined> {
    const challenges = this.endpoint.challenges;
    const bearer = findChallenge(challenges, "bearer");
    if (bearer) return `Bearer ${(await this.token(bearer, scopes, signal)).token}`;
    if (findChallenge(challenges, "basic")) {
      const cred = await this.getCredential();
      if (cred && cred.identityToken === undefined) return basicHeader(cred);
    }
    return undefined;
  }

  /**
   * After a 401: learns the challenge the registry sent, drops the token that
   * failed, and returns the scopes a retry should ask for (the challenge's
   * scope merged in, for `insufficient_scope`), or undefined when a retry
   * cannot help (no challenge, or Basic without a credential).
   */
  async reauthorize(res: HttpResponse, scopes: readonly Scope[]): Promise<Scope[] | undefined> {
    let challenges: Challenge[];
    try {
      challenges = parseChallengeHeaders(headerList(res.headers, "www-authenticate"));
    } catch {
      return undefined;
    }
    if (challenges.length === 0) return undefined;
    this.endpoint.challenges = challenges;
    const bearer = findChallenge(challenges, "bearer");
    if (bearer) {
      const wanted = mergeScopes(scopes, scopesOfChallenge(bearer.params.scope));
      const cred = await this.credentialForRealm(bearer);
      // Drop every token of this owner that covers the failed request: one of them was just refused.
      const owner = this.tokenOwner(bearer, cred);
      for (const [k, t] of this.endpoint.tokens) if (t.owner === owner && scopesCover(t.scopes, scopes)) this.endpoint.tokens.delete(k);
      this.endpoint.tokens.delete(this.tokenKey(bearer, wanted, cred));
      return wanted;
    }
    if (findChallenge(challenges, "basic")) {
      const cred = await this.getCredential();
      return cred && cred.identityToken === undefined ? [...scopes] : undefined;
    }
    return undefined;
  }

  /** Fetches a token now (no cache), with the credential: `dray login` uses it to check a password. */
  async checkCredentials(signal?: AbortSignal): Promise<void> {
    const challenges = this.endpoint.challenges;
    const bearer = findChallenge(challenges, "bearer");
    if (bearer) {
      const cred = await this.credentialForRealm(bearer);
      if (!cred) throw new AuthError(`no credentials to check for ${this.endpoint.domain}`, { code: "E_AUTH_FAILED", where: this.endpoint.domain });
      await this.fetchToken(bearer, [], cred, signal);
    }
    // Basic: the caller pings /v2/ with the header; nothing to fetch here.
  }

  private tokenOwner(ch: Challenge, cred: RegistryCredential | undefined): string {
    return [credentialId(cred), ch.params.realm ?? "", ch.params.service ?? ""].join("|");
  }

  private tokenKey(ch: Challenge, scopes: readonly Scope[], cred: RegistryCredential | undefined): string {
    return `${this.tokenOwner(ch, cred)}|${mergeScopes(scopes).join(" ")}`;
  }

  /** A live cached token for exactly these scopes, or one asked for more (a push token serves a pull). */
  private cachedToken(owner: string, key: string, scopes: readonly Scope[]): CachedToken | undefined {
    const now = Date.now();
    const exact = this.endpoint.tokens.get(key);
    if (exact && exact.expiresAt > now) return exact;
    for (const t of this.endpoint.tokens.values()) {
      if (t.owner === owner && t.expiresAt > now && scopesCover(t.scopes, scopes)) return t;
    }
    return undefined;
  }

  private async token(ch: Challenge, scopes: readonly Scope[], signal?: AbortSignal): Promise<CachedToken> {
    const cred = await this.credentialForRealm(ch);
    const owner = this.tokenOwner(ch, cred);
    const key = this.tokenKey(ch, scopes, cred);
    const cached = this.cachedToken(owner, key, scopes);
    if (cached) return cached;
    let pending = this.endpoint.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(ch, mergeScopes(scopes), cred, signal).then((t) => ({ ...t, owner }));
      this.endpoint.pendingTokens.set(key, pending);
      pending.then(
        (t) => this.endpoint.tokens.set(key, t),
        () => undefined,
      );
      void pending.finally(() => this.endpoint.pendingTokens.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  /** The credential the token realm may receive, applying the same-owner rule (decided once per realm). */
  private credentialForRealm(ch: Challenge): Promise<RegistryCredential | undefined> {
    const key = ch.params.realm ?? "";
    let decided = this.realmDecisions.get(key);
    if (!decided) {
      decided = this.decideRealmCredential(ch);
      this.realmDecisions.set(key, decided);
    }
    return decided;
  }

  private async decideRealmCredential(ch: Challenge): Promise<RegistryCredential | undefined> {
    const cred = await this.getCredential();
    if (!cred) return undefined;
    const realm = realmURL(ch, this.endpoint.domain);
    const registryHost = hostOf(this.endpoint.domain);
    if (realm.protocol === "http:" && !isLoopbackDomain(realm.host) && !this.settings.insecure) {
      this.noticeOnce(realm.origin, `token realm ${realm.origin} of ${this.endpoint.domain} is plain HTTP; credentials are not sent to it (use --insecure to allow)`);
      return undefined;
    }
    if (hostsRelated(realm.hostname.toLowerCase().replace(/^\[|\]$/g, ""), registryHost)) return cred;
    // An explicit credential was handed over for this registry only: never matched against the files.
    if (this.source.creds === undefined) {
      const forRealm = await resolveCredentials({ ...this.source, creds: undefined, domain: realm.host });
      if (forRealm && sameCredential(forRealm, cred)) return cred;
    }
    this.noticeOnce(
      realm.origin,
      `token realm ${realm.origin} is on another host than ${this.endpoint.domain}; requesting a token anonymously (store the same credential for ${realm.host} to send it there)`,
    );
    return undefined;
  }

  private noticeOnce(key: string, message: string): void {
    if (this.noticed.has(key)) return;
    this.noticed.add(key);
    this.settings.notice?.(message);
  }

  private async fetchToken(ch: Challenge, scopes: readonly Scope[], cred: RegistryCredential | undefined, signal?: AbortSignal): Promise<Omit<CachedToken, "owner">> {
    const realm = realmURL(ch, this.endpoint.domain);
    const service = ch.params.service;
    let res: HttpResponse;
    if (cred?.identityToken !== undefined) {
      // OAuth2 refresh-token grant (docker's identitytoken), a form POST.
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: cred.identityToken, client_id: "dray" });
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await sendWithRetries(
        { method: "POST", url: realm, headers: { "content-type": "application/x-www-form-urlencoded" }, body: Buffer.from(form.toString()), signal },
        this.settings,
      );
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (cred) headers.authorization = basicHeader(cred);
      res = await sendWithRetries({ method: "GET", url, headers, signal }, this.settings);
    }
    const body = await readBody(res, MAX_TOKEN_BODY, "token response");
    if (res.status === 401 || res.status === 403) throw this.refused(realm, cred, res.status);
    if (res.status !== 200) {
      throw new RegistryError(`token server ${realm.origin} answered HTTP ${res.status} for ${this.endpoint.domain}`, { where: this.endpoint.domain, status: res.status });
    }
    return { ...parseTokenResponse(body, realm, cred, this.endpoint.domain), scopes: [...scopes] };
  }

  private refused(realm: URL, cred: RegistryCredential | undefined, status: number): DrayError {
    const domain = this.endpoint.domain;
    if (!cred) {
      return new AuthError(`authentication required for ${domain}: no credentials found (dray login ${domain}, or --creds)`, { code: "E_AUTH_FAILED", where: domain, status });
    }
    return new AuthError(`token server ${realm.origin} refused the credentials from ${cred.source} for ${domain}`, { code: "E_AUTH_FAILED", where: domain, status });
  }
}

function parseTokenResponse(body: Buffer, realm: URL, cred: RegistryCredential | undefined, domain: string): { token: string; expiresAt: number } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new RegistryError(`token server ${realm.origin} sent an answer that is not JSON`, { where: domain });
  }
  const token = typeof doc.token === "string" && doc.token !== "" ? doc.token : doc.access_token;
  if (typeof token !== "string" || !TOKEN_RE.test(token)) {
    throw new RegistryError(`token server ${realm.origin} sent no usable token`, { where: domain });
  }
  // A rotated refresh token replaces the old one for the rest of the run.
  if (cred?.identityToken !== undefined && typeof doc.refresh_token === "string" && doc.refresh_token !== "") cred.identityToken = doc.refresh_token;
  const seconds = typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
  const lifetime = seconds * 1000;
  // Stop using a token a little before it expires: a request in flight must not carry a dead token.
  return { token, expiresAt: Date.now() + lifetime - Math.min(30_000, lifetime / 10) };
}

function realmURL(ch: Challenge, domain: string): URL {
  const realm = ch.params.realm;
  if (!realm) throw new RegistryError(`${domain} sent a Bearer challenge without a realm`, { where: domain });
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new RegistryError(`${domain} sent a Bearer challenge with an invalid realm`, { where: domain });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new RegistryError(`${domain} sent a token realm that is not HTTP(S)`, { where: domain });
  return url;
}

export function basicHeader(cred: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
}

function credentialId(cred: RegistryCredential | undefined): string {
  if (!cred) return "anonymous";
  // A fingerprint, never the secret itself, keys the in-memory cache.
  return createHash("sha256").update(`${cred.username}\0${cred.password}\0${cred.identityToken ?? ""}`).digest("hex").slice(0, 24);
}

function sameCredential(a: RegistryCredential, b: RegistryCredential): boolean {
  return a.username === b.username && a.password === b.password && a.identityToken === b.identityToken;
}

const IP_RE = /^(?:\d{1,3}(?:\.\d{1,3}){3}|.*:.*)$/;

/** Same host, or one a subdomain of the other (registry.gitlab.com / gitlab.com, auth.docker.io / docker.io). */
export function hostsRelated(a: string, b: string): boolean {
  if (a === b) return true;
  if (IP_RE.test(a) || IP_RE.test(b)) return false;
  const family = (h: string): string => (h === "docker.io" || h.endsWith(".docker.io") ? "docker.io" : h);
  if (family(a) === family(b)) return true;
  return a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}
