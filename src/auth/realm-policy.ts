import { createRequire } from "node:module";
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
 * A plain-HTTP realm gets nothing unless it is on loopback or --insecure
 * was given: the credential would cross the network readable.
 */

export type RealmVerdict =
  { send: true; because: "same-host" | "same-site" | "docker-hub" | "trusted" } | { send: false; because: "plain-http" | "other-site" };

export interface RealmQuestion {
  /** The registry as in the reference: `host[:port]`. */
  registry: string;
  realm: URL;
  /** Realm hosts the user trusts for this registry (`host` or `host:port`). */
  trusted: readonly string[];
  insecure: boolean;
}

const DOCKER_HUB_SITES = new Set(["docker.io", "docker.com"]);

/** `host` without brackets or port, lower case. */
export function bareHost(authority: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(authority);
  if (m) return m[1]!.toLowerCase();
  const colons = authority.split(":").length - 1;
  // An IPv6 address without brackets has several colons and no port to strip.
  return (colons === 1 ? authority.replace(/:\d+$/, "") : authority).toLowerCase().replace(/\.$/, "");
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
  const withPort = realm.host.toLowerCase();
  return trusted.some((t) => {
    const entry = t.trim().toLowerCase();
    return (
      entry === withPort ||
      entry === host ||
      (entry.includes(":") && bareHost(entry) === host && entry === `${host}:${realm.port || (realm.protocol === "https:" ? "443" : "80")}`)
    );
  });
}

export function decideRealm(q: RealmQuestion): RealmVerdict {
  if (q.realm.protocol === "http:" && !isLoopbackDomain(q.realm.host) && !q.insecure) return { send: false, because: "plain-http" };
  const realmHost = bareHost(q.realm.host);
  const registryHost = bareHost(q.registry);
  if (realmHost === registryHost) return { send: true, because: "same-host" };
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
