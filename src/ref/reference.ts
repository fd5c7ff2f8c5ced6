import { isIPv6 } from "node:net";
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
  return new UsageError(`invalid reference ${quote(text)}: ${why}`, { code: "E_REF_INVALID" });
}

/**
 * What a terminal acts on or that reorders what it shows: C0 and C1 control
 * characters (ESC starts a sequence; U+009B is CSI itself), DEL, and the
 * bidirectional marks, embeddings, overrides and isolates.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const STEERING = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const STEERING_ALL = new RegExp(STEERING.source, "g");

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** JSON's quoting, with what JSON leaves raw (C1 controls, bidi marks) escaped too: still valid JSON, the same string. */
function jsonQuote(text: string): string {
  return JSON.stringify(text).replace(STEERING_ALL, escapeChar);
}

/**
 * A value as JSON text with every control character and bidi mark that JSON
 * leaves raw escaped (JSON escapes C0 but not DEL, C1 or bidi marks): the same
 * document to a parser, inert on a terminal. `--format json` and the
 * templates' `json` and `%q` all print through it.
 */
export function escapedJson(value: unknown, space?: number): string {
  return escapeControls(JSON.stringify(value ?? null, null, space));
}

/**
 * User text inside a message: quoted, escaped and cut short, so an error stays
 * one line however hostile the input (newlines, control characters, megabytes).
 */
export function quote(text: string, max = 100): string {
  return jsonQuote(text.length > max ? `${text.slice(0, max - 3)}...` : text);
}

/**
 * Text an image or a registry supplied (a file name, a link target, a tag) in
 * a message or a listing: as it is when harmless, else quoted and escaped as
 * JSON, so nothing in it reaches a terminal as a control sequence and one
 * line stays one entry (`cat --list`, `ls`, cat's errors, export's notices).
 */
export function printable(text: string): string {
  return STEERING.test(text) ? jsonQuote(text) : text;
}

/**
 * A whole line for stderr with every control character but newline and tab
 * escaped: the last guard for messages that carry text from elsewhere.
 */
export function escapeControls(line: string): string {
  return line.replace(STEERING_ALL, (c) => (c === "\n" || c === "\t" ? c : escapeChar(c)));
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** A repository path (`team/app`) by the distribution grammar, without a domain. */
export function isValidRepositoryPath(path: string): boolean {
  return path.length <= NAME_TOTAL_LENGTH_MAX && PATH_RE.test(path);
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
    if (!parsed) throw refError(text, `unsupported digest ${quote(d)} (sha256 or sha512, lowercase hex)`);
    digest = parsed;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  // A colon after the last slash separates the tag; one before it is a port.
  // So `localhost:5000` alone is the name `localhost` with tag `5000`, as in docker.
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw refError(text, `invalid tag ${quote(tag)}`);
  }
  const out: { name: string; tag?: string; digest?: Digest } = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** Docker's rule for a first name component: a registry host if it has '.', ':', is localhost, or has uppercase. */
function looksLikeHost(first: string): boolean {
  return first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase();
}

/** Splits a name into domain and path the way docker normalises it. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf("/");
  if (slash < 0 || !looksLikeHost(name.slice(0, slash))) {
    return { domain: DEFAULT_DOMAIN, path: slash < 0 ? OFFICIAL_REPO_PREFIX + name : name };
  }
  let domain = name.slice(0, slash);
  let path = name.slice(slash + 1);
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalises a docker reference as `docker pull` would:
 * `alpine` → `docker.io/library/alpine` (no tag yet: see withDefaultTag).
 *
 * Follows distribution/reference's ParseNormalizedNamed, with two deliberate
 * restrictions: digests must be sha256 or sha512 in lowercase hex (what dray can
 * verify), and the host must be one a URL can carry (port up to 65535, a real
 * IPv4 or IPv6 address where it looks like one), so a parsed reference never
 * fails later when it is turned into a URL.
 */
export function parseReference(text: string): ImageReference {
  if (text === "") throw refError(text, "empty reference");
  // Docker tests the whole input: `<64 hex>:tag` is a name, `<64 hex>` an image ID.
  if (ANCHORED_ID_RE.test(text)) throw refError(text, "a 64-hex-digit string is an image ID, not a repository name");
  const { name, tag, digest } = splitTagAndDigest(text);
  if (name === "") throw refError(text, "missing repository name");
  const { domain, path } = splitDomain(name);
  checkDomain(domain, text);
  if (path !== path.toLowerCase()) throw refError(text, "repository name must be lowercase");
  if (!PATH_RE.test(path)) throw refError(text, `invalid repository name ${quote(path)}`);
  // The limit applies to the repository path, as the registry (and distribution/reference v0.6) count it.
  if (path.length > NAME_TOTAL_LENGTH_MAX) throw refError(text, `repository name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The grammar's host[:port], then what a URL needs beyond the grammar. */
function checkDomain(domain: string, text: string): void {
  if (!DOMAIN_RE.test(domain)) throw refError(text, `invalid registry host ${quote(domain)}`);
  const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]+))?$/.exec(domain);
  const host = m?.[1] ?? domain;
  const port = m?.[2];
  if (port !== undefined && (port.length > 5 || Number(port) > 65535))
    throw refError(text, `invalid port in registry host ${quote(domain)}`);
  if (host.startsWith("[") && !isIPv6(host.slice(1, -1))) throw refError(text, `${quote(host)} is not an IPv6 address`);
  // WHATWG URLs read a host whose last label is numeric as IPv4 and refuse a bad one (`127.0.0.999`).
  try {
    new URL(`http://${domain}/`);
  } catch {
    throw refError(text, `${quote(domain)} cannot be a registry host`);
  }
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

/**
 * The short form docker prints: `alpine:latest` for `docker.io/library/alpine:latest`.
 * Like docker, `library/` is dropped only from a single-component remainder.
 * Unlike docker, the host stays whenever dropping it would change the meaning
 * (`docker.io/foo.com/bar`, an image-ID-like name), so the short form always
 * parses back to the same reference.
 */
export function familiarReference(ref: ImageReference): string {
  let s = ref.domain === DEFAULT_DOMAIN ? familiarHubPath(ref) : repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

function familiarHubPath(ref: ImageReference): string {
  const { path } = ref;
  const slash = path.indexOf("/");
  if (slash >= 0 && looksLikeHost(path.slice(0, slash))) return repositoryName(ref);
  const rest = path.startsWith(OFFICIAL_REPO_PREFIX) ? path.slice(OFFICIAL_REPO_PREFIX.length) : undefined;
  if (rest === undefined || rest.includes("/")) return path;
  const bare = ref.tag === undefined && ref.digest === undefined;
  return bare && ANCHORED_ID_RE.test(rest) ? path : rest;
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
  if (host === "localhost" || /^127(?:\.\d{1,3}){3}$/.test(host)) return true;
  // Any spelling of ::1 (`0:0:0:0:0:0:0:1`, `::0001`) is loopback too.
  return isIPv6(host) && new URL(`http://[${host}]/`).hostname === "[::1]";
}
