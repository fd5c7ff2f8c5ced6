import { createHash } from "node:crypto";
import { findChallenge, parseChallengeHeaders, type Challenge } from "../../auth/challenge.js";
import { resolveCredentials, type CredentialLookup, type RegistryCredential } from "../../auth/credentials.js";
import { AuthError, type DrayError, RegistryError } from "../../errors.js";
import { decideRealm, trustHint } from "../../auth/realm-policy.js";
import { recordedTrustedRealms } from "../../auth/realm-trust.js";
import type { CachedToken, RegistryEndpoint } from "./http/endpoint.js";
import { sendWithRetries, type HttpSettings } from "./http/http.js";
import { headerList, readBody, type HttpResponse } from "./http/response.js";
import { untilAborted } from "./http/retry.js";
import { mergeScopes, scopeKey, scopesCover, scopesOfChallenge, type Scope } from "./scope.js";
import { AUTH_REFUSED, METHOD_NOT_ALLOWED, NOT_FOUND, OK } from "./http/status.js";
import { noteSentSecret } from "../../auth/sent-secrets.js";
import { defined } from "../../defined.js";

/**
 * The Authorization header for a registry request: Basic with the
 * credential, or a Bearer token from the challenge's realm (cached per
 * registry, credential and scope set until shortly before it expires).
 *
 * A credential is only ever sent to the registry it belongs to and to the
 * token realm the realm policy allows (src/auth/realm-policy.ts: same host,
 * same registrable domain, Docker Hub, or trusted by the user); a realm the
 * policy refuses is asked anonymously, with a notice naming --trust-realm,
 * and an error that follows says the credential was withheld.
 */

const MAX_TOKEN_BODY = 1024 * 1024;
const DEFAULT_TOKEN_SECONDS = 60;
/** Visible ASCII only: a token goes into a header, so anything else is refused rather than sent. */
const TOKEN_RE = /^[\x21-\x7e]+$/;

export type CredentialSource = Omit<CredentialLookup, "domain"> & {
  /** Realm hosts the user trusts for this registry (--trust-realm, the sync YAML), beside those `dray login --trust-realm` recorded. */
  trustRealms?: readonly string[];
  /** A bearer token obtained elsewhere (`--registry-token`): sent on every request, no lookup, no token service. */
  registryToken?: string;
  /** `--no-creds`: anonymous, whatever is stored. */
  noCreds?: boolean;
};

/** A credential the realm policy kept from a realm: what errors must say instead of "no credentials found". */
export interface WithheldCredential {
  realm: URL;
  source: string;
  because: "plain-http" | "other-site" | "other-port";
}

/**
 * The repository a request is about, for credentials scoped to it
 * (containers auth.json keys like `HOST/team/app`, containers-auth.json(5)):
 * the one asked to push, else the first named. A mount asks for the
 * target's push and the source's pull in one token: the target's credential
 * is the one that must be able to write.
 */
function repositoryOf(scopes: readonly Scope[]): string | undefined {
  const repos = scopes.flatMap((s) => {
    const m = /^repository(?:\([^)]*\))?:(.+):([^:]*)$/.exec(s);
    return m ? [{ name: m[1]!, push: m[2]!.split(",").includes("push") }] : [];
  });
  return (repos.find((r) => r.push) ?? repos[0])?.name;
}

export class Authenticator {
  /** Per repository ("" for none): a containers auth.json may hold a different credential for each. */
  private readonly credentials = new Map<string, Promise<RegistryCredential | undefined>>();
  private noticed = new Set<string>();
  private readonly realmDecisions = new Map<string, Promise<RegistryCredential | undefined>>();
  /** The credential was read again after a refusal (once per run). */
  private reread = false;
  /** Set when the realm policy withheld the credential from the realm last asked. */
  withheld: WithheldCredential | undefined;

  constructor(
    private readonly endpoint: RegistryEndpoint,
    private readonly settings: HttpSettings,
    private readonly source: CredentialSource,
  ) {}

  /** The credential for this registry, or for one repository of it (resolved once per authenticator and repository). */
  getCredential(repo?: string): Promise<RegistryCredential | undefined> {
    if (this.source.noCreds === true || this.source.registryToken !== undefined) return Promise.resolve(undefined);
    let found = this.credentials.get(repo ?? "");
    if (!found) {
      found = resolveCredentials({ ...this.source, domain: this.endpoint.domain, ...defined({ repoPath: repo }) });
      this.credentials.set(repo ?? "", found);
    }
    return found;
  }

  /** The credential a request on `scopes` would use (a repository-scoped one first). */
  credentialFor(scopes: readonly Scope[]): Promise<RegistryCredential | undefined> {
    return this.getCredential(repositoryOf(scopes));
  }

  /** The Authorization header value for `scopes`, or undefined when the registry asked for none. */
  async authorization(scopes: readonly Scope[], signal?: AbortSignal): Promise<string | undefined> {
    if (this.source.registryToken !== undefined) {
      noteSentSecret(this.source.registryToken);
      return `Bearer ${this.source.registryToken}`;
    }
    const challenges = this.endpoint.challenges;
    const bearer = findChallenge(challenges, "bearer");
    if (bearer) {
      const { token } = await this.token(bearer, scopes, signal);
      noteSentSecret(token);
      return `Bearer ${token}`;
    }
    if (findChallenge(challenges, "basic")) {
      const cred = await this.getCredential(repositoryOf(scopes));
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
    // A token given by the user is all there is: a 401 to it cannot be mended by asking again.
    if (this.source.registryToken !== undefined) return undefined;
    let challenges: Challenge[];
    try {
      challenges = parseChallengeHeaders(headerList(res.headers, "www-authenticate"), (h) =>
        this.settings.debug?.(`WWW-Authenticate of ${this.endpoint.domain} read leniently: ${h.slice(0, 200)}`),
      );
    } catch {
      return undefined;
    }
    if (challenges.length === 0) return undefined;
    this.endpoint.challenges = challenges;
    const bearer = findChallenge(challenges, "bearer");
    if (bearer) {
      const wanted = mergeScopes(scopes, scopesOfChallenge(bearer.params.scope));
      const cred = await this.credentialForRealm(bearer, repositoryOf(scopes));
      // Drop every token of this owner that covers the failed request: one of them was just refused.
      const owner = this.tokenOwner(bearer, cred);
      for (const [k, t] of this.endpoint.tokens) if (t.owner === owner && scopesCover(t.scopes, scopes)) this.endpoint.tokens.delete(k);
      this.endpoint.tokens.delete(this.tokenKey(bearer, wanted, cred));
      return wanted;
    }
    if (findChallenge(challenges, "basic")) {
      const repo = repositoryOf(scopes);
      const had = await this.getCredential(repo);
      const cred = (had && (await this.rereadCredential(had, repo))) ?? had;
      return cred && cred.identityToken === undefined ? [...scopes] : undefined;
    }
    return undefined;
  }

  /**
   * After the token service or a Basic 401 refused `refused`: reads the
   * credential again, once per run, when it came from a file or a helper
   * (Artifact Registry's helper hands out 1-hour tokens, ACR's refresh
   * tokens expire; a long sync outlives them). Returns the new credential
   * when it differs, else undefined. `--creds` and the YAML are not re-read:
   * they cannot have changed.
   */
  private async rereadCredential(refused: RegistryCredential, repo: string | undefined): Promise<RegistryCredential | undefined> {
    if (this.reread || this.source.creds !== undefined) return undefined;
    this.reread = true;
    this.credentials.clear();
    this.realmDecisions.clear();
    const fresh = await this.getCredential(repo);
    if (!fresh || sameCredential(fresh, refused)) return undefined;
    this.settings.debug?.(`credential for ${this.endpoint.domain} from ${fresh.source} was refused; read it again and trying once more`);
    return fresh;
  }

  /** Fetches a token now (no cache), with the credential: `dray login` uses it to check a password. */
  async checkCredentials(signal?: AbortSignal): Promise<void> {
    const challenges = this.endpoint.challenges;
    const bearer = findChallenge(challenges, "bearer");
    if (bearer) {
      const cred = await this.credentialForRealm(bearer);
      if (!cred) {
        const domain = this.endpoint.domain;
        throw new AuthError(`cannot check the credential for ${domain}: ${this.withheldMessage() ?? "no credentials to check"}`, {
          code: "E_AUTH_FAILED",
          where: domain,
        });
      }
      await this.fetchToken(bearer, [], cred, signal);
    }
    // Basic: the caller pings /v2/ with the header; nothing to fetch here.
  }

  private tokenOwner(ch: Challenge, cred: RegistryCredential | undefined): string {
    return [credentialId(cred), ch.params.realm ?? "", ch.params.service ?? ""].join("|");
  }

  private tokenKey(ch: Challenge, scopes: readonly Scope[], cred: RegistryCredential | undefined): string {
    return `${this.tokenOwner(ch, cred)}|${scopeKey(scopes)}`;
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
    const cred = await this.credentialForRealm(ch, repositoryOf(scopes));
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
    return untilAborted(pending, signal);
  }

  /** The credential the token realm may receive, applying the same-owner rule (decided once per realm). */
  private credentialForRealm(ch: Challenge, repo?: string): Promise<RegistryCredential | undefined> {
    const key = `${ch.params.realm ?? ""}\n${repo ?? ""}`;
    let decided = this.realmDecisions.get(key);
    if (!decided) {
      decided = this.decideRealmCredential(ch, repo);
      this.realmDecisions.set(key, decided);
    }
    return decided;
  }

  private async decideRealmCredential(ch: Challenge, repo: string | undefined): Promise<RegistryCredential | undefined> {
    const cred = await this.getCredential(repo);
    if (!cred) return undefined;
    const realm = realmURL(ch, this.endpoint.domain);
    const domain = this.endpoint.domain;
    const trusted = [...(this.source.trustRealms ?? []), ...(await recordedTrustedRealms(domain, this.source.env))];
    const verdict = decideRealm({ registry: domain, realm, trusted, insecure: this.settings.tls.insecure });
    if (verdict.send) return cred;
    if (verdict.because !== "plain-http" && this.source.creds === undefined) {
      // The user's credential files hold the very same credential for the realm's host: the same owner, evidently.
      const forRealm = await resolveCredentials({ ...this.source, creds: undefined, domain: realm.host });
      if (forRealm && sameCredential(forRealm, cred)) return cred;
    }
    this.withheld = { realm, source: cred.source, because: verdict.because };
    const hint = trustHint(realm);
    this.noticeOnce(
      realm.origin,
      verdict.because === "plain-http"
        ? `token realm ${realm.origin} of ${domain} is plain HTTP; the credential from ${cred.source} is not sent to it (use --insecure to allow)`
        : verdict.because === "other-port"
          ? `token realm ${realm.origin} of ${domain} is on another port of the same host without verified HTTPS, where any local user may listen; the credential from ${cred.source} is withheld and the token asked anonymously (trust it with --trust-realm ${hint})`
          : `token realm ${realm.origin} of ${domain} is on an unrelated site; the credential from ${cred.source} is withheld and the token asked anonymously (trust it with --trust-realm ${hint})`,
    );
    return undefined;
  }

  /** The one-line reason for a refusal that followed a withheld credential, or undefined. */
  /** Why the registry got no credential it accepts: --no-creds asked for anonymous access, a given token was refused, or none was found. */
  /** `--no-creds`, or a registry token given: anonymous or tokened on purpose, so "dray login" is no advice. */
  noCredsAsked(): boolean {
    return this.source.noCreds === true || this.source.registryToken !== undefined;
  }

  missingMessage(domain: string): string {
    if (this.source.noCreds === true) return `${domain} refused anonymous access, which --no-creds asked for`;
    if (this.source.registryToken !== undefined)
      return `${domain} refused the registry token given (--registry-token, DRAY_REGISTRY_TOKEN or a token in --creds-file)`;
    return `no credentials found for ${domain} (dray login ${domain}, or --creds)`;
  }

  withheldMessage(): string | undefined {
    const w = this.withheld;
    if (!w) return undefined;
    if (w.because === "plain-http") {
      return `credential for ${this.endpoint.domain} withheld from plain-HTTP realm ${w.realm.origin}; allow it with --insecure`;
    }
    return `credential for ${this.endpoint.domain} withheld from realm ${trustHint(w.realm)}; trust it with --trust-realm ${trustHint(w.realm)}`;
  }

  private noticeOnce(key: string, message: string): void {
    if (this.noticed.has(key)) return;
    this.noticed.add(key);
    this.settings.notice?.(message);
  }

  private async fetchToken(
    ch: Challenge,
    scopes: readonly Scope[],
    cred: RegistryCredential | undefined,
    signal?: AbortSignal,
  ): Promise<Omit<CachedToken, "owner">> {
    const realm = realmURL(ch, this.endpoint.domain);
    const service = ch.params.service;
    let res: HttpResponse;
    if (cred?.identityToken !== undefined) {
      // OAuth2 refresh-token grant (docker's identitytoken), a form POST.
      noteSentSecret(cred.identityToken);
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: cred.identityToken, client_id: "dray" });
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await sendWithRetries(
        {
          method: "POST",
          url: realm,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: Buffer.from(form.toString()),
          signal,
        },
        this.settings,
      );
      // Token services without the OAuth2 POST answer 404 or 405 (GCR did, containerd's docker
      // resolver notes it): ask with GET and Basic auth, the refresh token as the password.
      if (res.status === NOT_FOUND || res.status === METHOD_NOT_ALLOWED) {
        await readBody(res, MAX_TOKEN_BODY, "token response").catch(() => undefined);
        this.settings.debug?.(`token service ${realm.origin} answered ${res.status} to the refresh-token POST; asking with GET`);
        res = await this.getToken(realm, service, scopes, { username: cred.username, password: cred.identityToken }, signal);
      }
    } else {
      res = await this.getToken(realm, service, scopes, cred, signal);
    }
    const body = await readBody(res, MAX_TOKEN_BODY, "token response");
    if (AUTH_REFUSED.has(res.status)) {
      // The fresh credential goes through the realm policy like the first one.
      const repo = repositoryOf(scopes);
      const fresh = cred && (await this.rereadCredential(cred, repo)) ? await this.credentialForRealm(ch, repo) : undefined;
      if (fresh) return this.fetchToken(ch, scopes, fresh, signal);
      throw this.refused(realm, cred, res.status);
    }
    if (res.status !== OK) {
      throw new RegistryError(`token server ${realm.origin} answered HTTP ${res.status} for ${this.endpoint.domain}`, {
        where: this.endpoint.domain,
        status: res.status,
      });
    }
    return { ...parseTokenResponse(body, realm, cred, this.endpoint.domain), scopes: [...scopes] };
  }

  /** The token GET of the distribution token spec, with Basic auth when there is a credential. */
  private getToken(
    realm: URL,
    service: string | undefined,
    scopes: readonly Scope[],
    cred: { username: string; password: string } | undefined,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    for (const s of scopes) url.searchParams.append("scope", s);
    const headers: Record<string, string> = {};
    if (cred) headers.authorization = basicHeader(cred);
    return sendWithRetries({ method: "GET", url, headers, signal }, this.settings);
  }

  private refused(realm: URL, cred: RegistryCredential | undefined, status: number): DrayError {
    const domain = this.endpoint.domain;
    const withheld = this.withheldMessage();
    if (!cred && withheld)
      return new AuthError(`authentication required for ${domain}: ${withheld}`, { code: "E_AUTH_FAILED", where: domain, status });
    if (!cred) {
      return new AuthError(`authentication required for ${domain}: ${this.missingMessage(domain)}`, {
        code: "E_AUTH_FAILED",
        where: domain,
        status,
      });
    }
    return new AuthError(`token server ${realm.origin} refused the credentials from ${cred.source} for ${domain}`, {
      code: "E_AUTH_FAILED",
      where: domain,
      status,
    });
  }
}

function parseTokenResponse(
  body: Buffer,
  realm: URL,
  cred: RegistryCredential | undefined,
  domain: string,
): { token: string; expiresAt: number } {
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
  if (cred?.identityToken !== undefined && typeof doc.refresh_token === "string" && doc.refresh_token !== "")
    cred.identityToken = doc.refresh_token;
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
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new RegistryError(`${domain} sent a token realm that is not HTTP(S)`, { where: domain });
  return url;
}

export function basicHeader(cred: { username: string; password: string }): string {
  const value = Buffer.from(`${cred.username}:${cred.password}`).toString("base64");
  noteSentSecret(cred.password, value);
  return `Basic ${value}`;
}

function credentialId(cred: RegistryCredential | undefined): string {
  if (!cred) return "anonymous";
  // A fingerprint, never the secret itself, keys the in-memory cache.
  return createHash("sha256")
    .update(`${cred.username}\0${cred.password}\0${cred.identityToken ?? ""}`)
    .digest("hex")
    .slice(0, 24);
}

function sameCredential(a: RegistryCredential, b: RegistryCredential): boolean {
  return a.username === b.username && a.password === b.password && a.identityToken === b.identityToken;
}
