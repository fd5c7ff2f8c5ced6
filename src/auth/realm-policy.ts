import { createRequire } from "node:module";
import { domainToASCII } from "node:url";
import { isLoopbackDomain } from "../ref/reference.js";

type Tldts = typeof import("tldts");
let tldts: Tldts | undefined;

/**
 * tldts (the Public Suffix List) loads on first use, from node_modules, not
 * with the CLI bundle: only a realm on another host needs it, and loading it
 * cost every `dray inspect` ~2 ms of start-up and the bundle ~250 KiB.
 */
function suffixList(): Tldts {
  return (tldts ??= createRequire(import.meta.url)("tldts") as Tldts);
}

/**
 * Where a registry's credential may go when the registry sends it to a token
 * realm. Registries put their token service on another host often enough:
 * self-hosted GitLab answers from registry.example.com with realm
 * https://gitlab.example.com/jwt/auth (docs.gitlab.com, "GitLab container
 * registry administration": the registry's auth.token.realm is the GitLab
 * URL); DigitalOcean's registry.digitalocean.com names
 * https://api.digitalocean.com/v2/registry/auth; Docker Hub's
 * registry-1.docker.io names auth.docker.io. docker, skopeo and crane send
 * the credential to whatever realm the registry names; dray sends it where
 * the same owner is evident, and elsewhere only when the user says so:
 *
 * - the realm is the registry's own host;
 * - both share a registrable domain (eTLD+1 by the Public Suffix List,
 *   private section included, so tenants of github.io or
 *   s3.amazonaws.com stay apart; a TLD the list lacks counts one site per
 *   second-level name, as tldts's default rule gives);
 * - both are Docker Hub (docker.io, docker.com);
 * - the user trusts the realm's host for this registry (--trust-realm, the
 *   sync YAML's trust-realm, or `dray login --trust-realm`).
 *
 * "The registry's own host" means its host and port. A realm on the same
 * host but another port counts as the same site only over verified HTTPS
 * (the certificate names the owner); over plain HTTP, or with --insecure,
 * any local user may be listening on that port of a shared host, so it is
 * withheld like another site's (a docker_auth on :5001 beside a registry on
 * :5000 is then one --trust-realm away).
 *
 * Host names are compared in their ASCII (punycode) form, as URLs carry
 * them: `räksmörgås.se` and `xn--rksmrgs-5wao1o.se` are one host.
 *
 * A plain-HTTP realm gets nothing unless it is on loopback or --insecure
 * was given: the credential would cross the network readable.
 */

export type RealmVerdict =
  | { send: true; because: "same-host" | "same-site" | "docker-hub" | "trusted" }
  | { send: false; because: "plain-http" | "other-site" | "other-port" };

export interface RealmQuestion {
  /** The registry as in the reference: `host[:port]`. */
  registry: string;
  realm: URL;
  /** Realm hosts the user trusts for this registry (`host` or `host:port`). */
  trusted: readonly string[];
  insecure: boolean;
}

const DOCKER_HUB_SITES = new Set(["docker.io", "docker.com"]);

/** `host` without brackets or port, lower case, a Unicode name in its ASCII (punycode) form. */
export function bareHost(authority: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(authority);
  if (m) return m[1]!.toLowerCase();
  const colons = authority.split(":").length - 1;
  // An IPv6 address without brackets has several colons and no port to strip.
  const host = (colons === 1 ? authority.replace(/:\d+$/, "") : authority).toLowerCase().replace(/\.$/, "");
  // eslint-disable-next-line no-control-regex -- any character outside ASCII
  return /[^\u0000-\u007f]/.test(host) ? domainToASCII(host) || host : host;
}

/** The port of `host[:port]`, or undefined when none is written. */
function explicitPort(authority: string): string | undefined {
  const m = /^\[[^\]]+\]:(\d+)$/.exec(authority) ?? (authority.split(":").length === 2 ? /:(\d+)$/.exec(authority) : null);
  return m?.[1];
}

/** Whether the realm listens on the registry's port (a registry without a port: the realm scheme's default). */
function samePort(realm: URL, registry: string): boolean {
  const fallback = realm.protocol === "https:" ? "443" : "80";
  return (realm.port || fallback) === (explicitPort(registry) ?? fallback);
}

/** The registrable domain (eTLD+1) of a host name; undefined for IP addresses and single labels. */
export function registrableDomain(host: string): string | undefined {
  const bare = bareHost(host);
  if (/^[\d.]+$/.test(bare) || bare.includes(":")) return undefined;
  return suffixList().getDomain(bare, { allowPrivateDomains: true }) ?? undefined;
}

/** Whether `realm` (a host from a challenge) is one the user listed: `host` matches any port, `host:port` that port only. */
export function isTrustedRealm(realm: URL, trusted: readonly string[]): boolean {
  const host = bareHost(realm.host);
  const port = realm.port || (realm.protocol === "https:" ? "443" : "80");
  return trusted.some((t) => {
    const entry = t.trim();
    if (bareHost(entry) !== host) return false;
    const wanted = explicitPort(entry);
    return wanted === undefined || wanted === port;
  });
}

export function decideRealm(q: RealmQuestion): RealmVerdict {
  if (q.realm.protocol === "http:" && !isLoopbackDomain(q.realm.host) && !q.insecure) return { send: false, because: "plain-http" };
  const realmHost = bareHost(q.realm.host);
  const registryHost = bareHost(q.registry);
  if (realmHost === registryHost) {
    if (samePort(q.realm, q.registry) || (q.realm.protocol === "https:" && !q.insecure)) return { send: true, because: "same-host" };
    if (isTrustedRealm(q.realm, q.trusted)) return { send: true, because: "trusted" };
    return { send: false, because: "other-port" };
  }
  const realmSite = registrableDomain(realmHost);
  const registrySite = registrableDomain(registryHost);
  if (realmSite !== undefined && realmSite === registrySite) {
    return { send: true, because: DOCKER_HUB_SITES.has(realmSite) ? "docker-hub" : "same-site" };
  }
  if (realmSite !== undefined && registrySite !== undefined && DOCKER_HUB_SITES.has(realmSite) && DOCKER_HUB_SITES.has(registrySite)) {
    return { send: true, because: "docker-hub" };
  }
  if (isTrustedRealm(q.realm, q.trusted)) return { send: true, because: "trusted" };
  return { send: false, because: "other-site" };
}

/** The `--trust-realm` value a message suggests: the realm's host, with its port when it has one. */
export function trustHint(realm: URL): string {
  return realm.host.toLowerCase();
}
