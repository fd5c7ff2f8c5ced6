import { UsageError } from "../errors.js";
import { Digest } from "../oci/digest.js";

/**
 * The docker reference grammar (distribution/reference):
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain '/'] remote-name
 *   domain    := host [':' port-number]
 *   host      := domain-name | IPv4address | \[ IPv6address \]
 */
const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_GRAMMAR_RE = new RegExp(`^${DIGEST}$`);
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;

export const NAME_TOTAL_LENGTH_MAX = 255;
export const DEFAULT_DOMAIN = "docker.io";
export const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
export const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";

/** A fully normalised image reference: `docker.io/library/alpine:latest`. */
export interface ImageReference {
  /** Registry host with optional port, as written (`localhost:5000`, `[::1]:5000`, `docker.io`). */
  domain: string;
  /** Repository path within the registry (`library/alpine`). */
  path: string;
  tag?: string;
  digest?: Digest;
}

function refError(text: string, why: string): UsageError {
  return new UsageError(`invalid reference "${text}": ${why}`, "E_REF_INVALID");
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Splits `name[:tag][@digest]` into its parts, checking the tag and digest grammar. */
function splitTagAndDigest(text: string): { name: string; tag?: string; digest?: Digest } {
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_GRAMMAR_RE.test(d)) throw refError(text, "invalid digest format");
    const parsed = Digest.tryParse(d);
    if (!parsed) throw refError(text, `unsupported digest "${d}" (sha256 or sha512, lowercase hex)`);
    digest = parsed;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    const candidate = rest.slice(colon + 1);
    // `localhost:5000` without a path is a host, never name:tag; but such a name
    // is a single path component, where a colon can only be a tag separator.
    tag = candidate;
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw refError(text, `invalid tag "${tag}"`);
  }
  const out: { name: string; tag?: string; digest?: Digest } = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** Splits a name into domain and path the way docker normalises it. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const looksLikeHost = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  if (!looksLikeHost) {
    return { domain: DEFAULT_DOMAIN, path: slash < 0 ? OFFICIAL_REPO_PREFIX + name : name };
  }
  let domain = first;
  let path = name.slice(slash + 1);
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalises a docker reference as `docker pull` would:
 * `alpine` → `docker.io/library/alpine` (no tag yet: see withDefaultTag).
 */
export function parseReference(text: string): ImageReference {
  if (text === "") throw refError(text, "empty reference");
  const { name, tag, digest } = splitTagAndDigest(text);
  if (name === "") throw refError(text, "missing repository name");
  if (ANCHORED_ID_RE.test(name)) throw refError(text, "a 64-hex-digit string is an image ID, not a repository name");
  const { domain, path } = splitDomain(name);
  if (!DOMAIN_RE.test(domain)) throw refError(text, `invalid registry host "${domain}"`);
  if (path !== path.toLowerCase()) throw refError(text, "repository name must be lowercase");
  if (!PATH_RE.test(path)) throw refError(text, `invalid repository name "${path}"`);
  if (name.length > NAME_TOTAL_LENGTH_MAX || `${domain}/${path}`.length > NAME_TOTAL_LENGTH_MAX) {
    throw refError(text, `repository name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `latest` when neither tag nor digest is given, as docker does. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** `domain/path` */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** `domain/path[:tag][@digest]`, fully qualified. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short form docker prints: `alpine:latest` for `docker.io/library/alpine:latest`. */
export function familiarReference(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
  }
  let s = name;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Host part without the port, lowercased, brackets removed from IPv6. */
export function hostOf(domain: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(domain);
  if (m) return m[1]!.toLowerCase();
  const colon = domain.lastIndexOf(":");
  return (colon >= 0 ? domain.slice(0, colon) : domain).toLowerCase();
}

/** Loopback registries are spoken to over plain HTTP, as docker and crane do. */
export function isLoopbackDomain(domain: string): boolean {
  const host = hostOf(domain);
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}
