/**
 * The registry transport: the OCI distribution API over undici. The copy
 * engine's dispatcher imports these entry points; commands may use
 * RegistryClient directly (HEAD a manifest, check a login).
 */
import type { RegistryLocation } from "../../ref/location.js";
import type { Credentials, ImageDestination, ImageSource, ReferenceStore, TransportOptions } from "../types.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";
import type { RateLimitInfo } from "./ratelimit.js";
import { RegistryDestination } from "./destination.js";
import { RegistryReferences } from "./references.js";
import { RegistrySource } from "./source.js";

export { referrersTag } from "../../oci/referrer-tags.js";
export { RegistryClient, manifestMediaType, type ManifestHead, type RegistryClientOptions } from "./client.js";
export { RegistrySource, referenceOf } from "./source.js";
export { RegistryDestination } from "./destination.js";
export { RegistryReferences } from "./references.js";
export { closeDispatchers as closeRegistryConnections } from "./http/http.js";
export { resetEndpoints } from "./http/endpoint.js";
export { parseRateLimit, lastRateLimit, onRateLimit, describeRateLimit, type RateLimitInfo } from "./ratelimit.js";

function clientFor(domain: string, opts: TransportOptions | RegistryClientOptions): RegistryClient {
  return new RegistryClient(domain, opts);
}

export async function openRegistrySource(loc: RegistryLocation, opts: TransportOptions): Promise<ImageSource> {
  return new RegistrySource(loc, clientFor(loc.ref.domain, opts));
}

export async function openRegistryDestination(loc: RegistryLocation, opts: TransportOptions): Promise<ImageDestination> {
  return new RegistryDestination(loc, clientFor(loc.ref.domain, opts));
}

export async function openRegistryReferences(loc: RegistryLocation, opts: TransportOptions): Promise<ReferenceStore> {
  return new RegistryReferences(loc, clientFor(loc.ref.domain, opts));
}

/** Repositories of a registry (`dray ls --catalog HOST`). */
export async function listCatalog(domain: string, opts: TransportOptions, signal?: AbortSignal): Promise<string[]> {
  return clientFor(domain, opts).catalog(undefined, signal);
}

/**
 * Checks `creds` against the registry `host` (`dray login`): Basic by a
 * `/v2/` request carrying them, Bearer by a token request to the realm.
 * Throws AuthError (exit 4) when they are refused, naming the credential by
 * `source` (where the caller got it; never the secret).
 */
export async function verifyCredentials(
  host: string,
  creds: Credentials,
  opts: TransportOptions,
  source = "dray login",
  signal?: AbortSignal,
): Promise<"checked" | "open"> {
  return clientFor(host, { ...opts, creds, credsSource: source }).checkLogin(signal);
}

export interface RateLimitReport {
  registry: string;
  repository: string;
  reference: string;
  /** The HEAD's status: 200, 404 (no such tag: the headers still count), 429 (limited now), 405 (HEAD refused). */
  status: number;
  rateLimit?: RateLimitInfo;
}

/** The rate limit a registry announces for a repository (`dray ratelimit`): one manifest HEAD, no pull counted. */
export async function rateLimitOf(loc: RegistryLocation, opts: TransportOptions, signal?: AbortSignal): Promise<RateLimitReport> {
  const client = clientFor(loc.ref.domain, opts);
  const reference = loc.ref.digest?.toString() ?? loc.ref.tag ?? "latest";
  const probe = await client.probeRateLimit(loc.ref.path, reference, signal);
  return { registry: loc.ref.domain, repository: loc.ref.path, reference, ...probe };
}
