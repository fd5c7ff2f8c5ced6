import { UsageError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import { formatReference, isValidRepositoryPath, isValidTag, parseReference, quote, type ImageReference } from "./reference.js";

export type TransportName = "docker" | "oci" | "oci-archive" | "docker-archive";

/** A tag or a digest naming an image inside an OCI layout or oci-archive. */
export type LayoutRef = { kind: "tag"; tag: string } | { kind: "digest"; digest: Digest };

export interface RegistryLocation {
  transport: "docker";
  ref: ImageReference;
}

export interface LayoutLocation {
  transport: "oci" | "oci-archive";
  /** Directory (oci) or tar file (oci-archive); `-` is standard input/output for oci-archive. */
  path: string;
  ref?: LayoutRef;
}

export interface DockerArchiveLocation {
  transport: "docker-archive";
  /** Tar file, or `-` for standard input/output. */
  path: string;
  /** NAME:TAG picking an image as a source, or the tag `docker load` gives it as a destination. */
  ref?: ImageReference;
  /** `@N`: the N-th image of manifest.json (from 0), skopeo's source index; a source only. */
  index?: number;
}

export type Location = RegistryLocation | LayoutLocation | DockerArchiveLocation;

const PREFIXES: ReadonlyArray<[string, TransportName]> = [
  ["docker://", "docker"],
  ["oci-archive:", "oci-archive"],
  ["docker-archive:", "docker-archive"],
  ["oci:", "oci"],
];

function locationError(text: string, why: string): UsageError {
  return new UsageError(`invalid location ${quote(text)}: ${why}`, { code: "E_LOCATION_INVALID" });
}

/** Parses the REF of `oci:PATH:REF`: a digest when it has the digest form, else a tag. */
export function parseLayoutRef(text: string, whole: string): LayoutRef {
  // A tag never holds a colon, so a colon means a digest, or REPO:TAG: the name a mirror
  // archive gives each image (`dray sync SRC oci-archive:FILE`; ref.name allows `/` and `:`).
  if (text.includes(":")) {
    const digest = Digest.tryParse(text);
    if (digest) return { kind: "digest", digest };
    if (isMirrorName(text)) return { kind: "tag", tag: text };
    throw locationError(whole, `${quote(text)} is not a valid digest (sha256 or sha512, lowercase hex)`);
  }
  // The image-spec allows more in ref.name than a docker tag, but dray keeps to the
  // tag grammar so a name always survives a copy to a registry.
  if (!isValidTag(text)) throw locationError(whole, `${quote(text)} is not a valid tag`);
  return { kind: "tag", tag: text };
}

/**
 * `team/app:1.2`: a repository path and a tag. What looks like a digest
 * (`sha256:…`, or 32 and more hex digits after the colon, as `md5:…`) stays
 * one, so a mistyped digest is still reported as such.
 */
function isMirrorName(text: string): boolean {
  const colon = text.lastIndexOf(":");
  const repository = text.slice(0, colon);
  const tag = text.slice(colon + 1);
  if (/^sha(256|384|512)$/.test(repository) || /^[A-Fa-f0-9]{32,}$/.test(tag)) return false;
  return isValidRepositoryPath(repository) && isValidTag(tag);
}

export function formatLayoutRef(ref: LayoutRef): string {
  return ref.kind === "tag" ? ref.tag : ref.digest.toString();
}

/** Splits `PATH[:REF]` at the first colon, as skopeo does for local transports. */
function splitPath(rest: string, whole: string): { path: string; ref?: string } {
  const colon = rest.indexOf(":");
  const path = colon < 0 ? rest : rest.slice(0, colon);
  if (path === "") throw locationError(whole, "missing path");
  if (path.includes("\0")) throw locationError(whole, "path contains a NUL byte");
  if (colon < 0) return { path };
  const ref = rest.slice(colon + 1);
  if (ref === "") throw locationError(whole, "empty reference after ':'");
  return { path, ref };
}

/** Parses any location form of the README's "Locations"; a string without a known prefix is a registry reference. */
export function parseLocation(text: string): Location {
  const found = PREFIXES.find(([prefix]) => text.startsWith(prefix));
  if (!found) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^(?:containers-storage|docker-daemon|dir|oci-layout):/.test(text)) {
      throw locationError(text, "unknown transport (use docker://, oci:, oci-archive: or docker-archive:)");
    }
    return { transport: "docker", ref: wrapRef(text, text) };
  }
  const [prefix, transport] = found;
  const rest = text.slice(prefix.length);
  if (transport === "docker") return { transport, ref: wrapRef(rest, text) };
  const { path, ref } = splitPath(rest, text);
  // `oci:DIR@sha256:HEX` (a registry's digest form) would name a folder `DIR@sha256` and a tag HEX.
  const at = /@(sha256|sha512)$/.exec(path);
  if (at && ref !== undefined && /^[0-9a-f]+$/.test(ref)) {
    throw locationError(text, `a local location takes its digest after a colon: ${prefix}${path.slice(0, at.index)}:${at[1]}:${ref}`);
  }
  if (transport === "docker-archive") {
    if (ref === undefined) return { transport, path };
    // skopeo's `docker-archive:FILE:@N` (containers/image docker/archive/transport.go): the N-th image.
    const index = /^@(\d+)$/.exec(ref);
    if (index) {
      const n = Number(index[1]);
      if (!Number.isSafeInteger(n)) throw locationError(text, `image index @${index[1]} is too large`);
      return { transport, path, index: n };
    }
    // `@…` can only be meant as an index (a NAME:TAG never starts with `@`): not read as `USER:PASS@`.
    if (ref.startsWith("@")) throw locationError(text, `${ref} is not an image index: @N takes a number from 0 (@0 is the first image)`);
    const parsed = wrapRef(ref, text);
    if (parsed.digest) throw locationError(text, "a docker-archive reference is NAME:TAG, not a digest");
    return { transport, path, ref: parsed };
  }
  if (transport === "oci" && path === "-") throw locationError(text, "an OCI layout is a directory; use oci-archive:- for a stream");
  return ref === undefined ? { transport, path } : { transport, path, ref: parseLayoutRef(ref, text) };
}

/**
 * `oci-archive:FILE:REPO` (or `oci:DIR:REPO`) as `ls` reads it: the archive or layout and a repository path
 * (`team/app`, `plain`), whose tags are the `REPO:TAG` names a mirror archive gives its images (`dray sync SRC
 * oci-archive:FILE`). Undefined for any other text: no REF, a digest, a `REPO:TAG` name, or no repository path.
 */
export function parseRepositoryInLayout(text: string): { location: LayoutLocation; repository: string } | undefined {
  const found = PREFIXES.find(([prefix, transport]) => text.startsWith(prefix) && (transport === "oci" || transport === "oci-archive"));
  if (!found) return undefined;
  const [prefix, transport] = found;
  const { path, ref } = splitPath(text.slice(prefix.length), text);
  if (ref === undefined || ref.includes(":") || !isValidRepositoryPath(ref)) return undefined;
  return { location: { transport: transport as LayoutLocation["transport"], path }, repository: ref };
}

/**
 * `USER:PASS@` in front of a registry reference (as in a URL), or undefined.
 * A reference's only `@` introduces a digest, after the whole path; an `@` in
 * the first path component (the domain), or one not followed by `ALG:`, is
 * user information, which must never be echoed: it usually holds a password.
 */
function userinfoOf(ref: string): string | undefined {
  const slash = ref.indexOf("/");
  const head = slash < 0 ? ref : ref.slice(0, slash);
  const at = head.lastIndexOf("@");
  if (at < 0) return undefined;
  if (slash < 0 && looksLikeDigest(head.slice(at + 1))) return undefined;
  return head.slice(0, at + 1);
}

/** `sha256:…` (even mistyped), or any `ALG:ENCODED` long enough to be a digest rather than `host:port`. */
function looksLikeDigest(text: string): boolean {
  return /^(?:sha256|sha384|sha512|blake3):/.test(text) || /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(text);
}

/** Parses the reference part of a location, naming the whole location in the error. */
function wrapRef(ref: string, whole: string): ImageReference {
  const userinfo = userinfoOf(ref);
  if (userinfo !== undefined) {
    // Quote the location with the user information masked: the error line must not carry a password.
    throw new UsageError(
      `invalid location ${quote(whole.replace(userinfo, "***@"))}: credentials cannot be part of a location; use --creds or dray login`,
      { code: "E_REF_INVALID" },
    );
  }
  try {
    return parseReference(ref);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const prefix = `invalid reference ${quote(ref)}: `;
    const why = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    throw new UsageError(`invalid location ${quote(whole)}: ${why}`, { code: "E_REF_INVALID", cause: err });
  }
}

/** The canonical text of a location; `parseLocation(formatLocation(l))` equals `l`. */
export function formatLocation(loc: Location): string {
  switch (loc.transport) {
    case "docker":
      return `docker://${formatReference(loc.ref)}`;
    case "docker-archive":
      if (loc.index !== undefined) return `docker-archive:${loc.path}:@${loc.index}`;
      return loc.ref ? `docker-archive:${loc.path}:${formatReference(loc.ref)}` : `docker-archive:${loc.path}`;
    case "oci":
    case "oci-archive":
      return loc.ref ? `${loc.transport}:${loc.path}:${formatLayoutRef(loc.ref)}` : `${loc.transport}:${loc.path}`;
  }
}

/**
 * Refuses a destructive change to a layout or archive that names no image:
 * without a reference, a layout's or archive's only image is taken, which
 * for a read is a convenience and for `delete` wipes every tag (an empty
 * `$TAG` in a script). Registries always carry a tag or digest.
 */
export function requireReference(loc: LayoutLocation | DockerArchiveLocation, action: string): void {
  if (loc.ref !== undefined || ("index" in loc && loc.index !== undefined)) return;
  const example =
    loc.transport === "docker-archive"
      ? `${loc.transport}:${loc.path}:NAME:TAG`
      : `${loc.transport}:${loc.path}:TAG (or ${loc.transport}:${loc.path}:sha256:…)`;
  throw new UsageError(`${action} needs a reference: ${example}; ${formatLocation(loc)} names none`, { code: "E_LOCATION_INVALID" });
}
