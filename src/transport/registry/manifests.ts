/**
 * Manifests in a registry repository: HEAD (with GET where HEAD is refused or
 * says too little), GET with the digest checked, PUT (immutable tags told
 * apart from other refusals), DELETE, and the rate-limit probe.
 */
import { IntegrityError, NetworkError, NotFoundError, RegistryError, type DrayError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import { MANIFEST_ACCEPT, MediaType, isIndexType, isManifestType } from "../../oci/mediatype.js";
import type { RegistryCore } from "./core.js";
import { errorFromResponse, type RegistryErrorEntry } from "./errors.js";
import { storedDigestMismatch } from "./http/http.js";
import { discard, header, readBody, type HttpResponse } from "./http/response.js";
import { isRetryableError, retryDelayMs, sleep } from "./http/retry.js";
import { parseRateLimit, type RateLimitInfo } from "./ratelimit.js";
import {
  AUTH_REFUSED,
  BAD_REQUEST,
  CONFLICT,
  DELETED,
  FORBIDDEN,
  INTERNAL_SERVER_ERROR,
  MANIFEST_STORED,
  METHOD_NOT_ALLOWED,
  NOT_FOUND,
  NOT_IMPLEMENTED,
  OK,
  PRECONDITION_FAILED,
  isStatus,
} from "./http/status.js";
import { defined } from "../../defined.js";

export interface ManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

/** Tries of a manifest PUT that the registry answers DIGEST_INVALID (see putManifest), and the pause before the next, times the try. */
const MANIFEST_DIGEST_ATTEMPTS = 3;
const MANIFEST_DIGEST_RETRY_MS = 150;
/**
 * Answers to a manifest HEAD that mean "ask with GET": Nexus answers 405
 * (merll/docker-registry-util#3 "HEAD not working in Nexus"), distribution
 * 2.2 behind token auth did too (distribution/distribution#1485); proxies
 * and caches in front of registries answer 400, 403 or 501 to a method
 * they do not pass. A GET tells the same, at the price of the body.
 */
const HEAD_REFUSED: ReadonlySet<number> = new Set([BAD_REQUEST, FORBIDDEN, METHOD_NOT_ALLOWED, NOT_IMPLEMENTED]);

/**
 * One HEAD of a manifest for its rate-limit headers (`dray ratelimit`).
 * Docker Hub counts a pull per manifest GET, not per HEAD
 * (docs.docker.com/docker-hub/usage/pulls), so this never falls back to a
 * GET: a registry that refuses HEAD gets reported as such.
 */
export async function probeRateLimit(
  core: RegistryCore,
  repo: string,
  ref: string,
  signal?: AbortSignal,
): Promise<{ status: number; rateLimit?: RateLimitInfo }> {
  const res = await manifestHeadRequest(core, repo, ref, signal, { noRetry: true });
  if (AUTH_REFUSED.has(res.status)) return core.fail(res, { what: `manifest ${ref}`, where: core.where(repo, ref) });
  const rateLimit = parseRateLimit(res.headers);
  return { status: res.status, ...defined({ rateLimit }) };
}

/** HEAD of a manifest by tag or digest; undefined when it does not exist. */
export async function headManifest(core: RegistryCore, repo: string, ref: string, signal?: AbortSignal): Promise<ManifestHead | undefined> {
  if (core.endpoint.manifestHeadRefused) return headByGet(core, repo, ref, signal);
  const res = await manifestHeadRequest(core, repo, ref, signal, { followRedirects: true });
  if (res.status === NOT_FOUND) return undefined;
  if (HEAD_REFUSED.has(res.status)) {
    core.settings.debug?.(`HEAD of manifest ${ref} answered ${res.status}: asking with GET from now on`);
    core.endpoint.manifestHeadRefused = true;
    return headByGet(core, repo, ref, signal);
  }
  await core.expectStatus(res, [OK], { what: `manifest ${ref}`, where: core.where(repo, ref) });
  const digestHeader = header(res.headers, "docker-content-digest");
  const digest = digestHeader === undefined ? undefined : Digest.tryParse(digestHeader);
  // Without a usable header only the bytes can tell: fetch them.
  if (digest === undefined) return headByGet(core, repo, ref, signal);
  if (Digest.isValid(ref) && !digest.equals(ref)) {
    throw new IntegrityError(`registry reports digest ${digest} for manifest ${ref}`, {
      code: "E_DIGEST_MISMATCH",
      where: core.where(repo, ref),
    });
  }
  return {
    digest,
    mediaType: cleanMediaType(header(res.headers, "content-type")) ?? MediaType.OciManifest,
    size: Number(header(res.headers, "content-length") ?? "0"),
  };
}

/** A HEAD of a manifest, its (empty) body drained; the caller reads the status and headers. */
async function manifestHeadRequest(
  core: RegistryCore,
  repo: string,
  ref: string,
  signal: AbortSignal | undefined,
  opts: { noRetry?: boolean; followRedirects?: boolean },
): Promise<HttpResponse> {
  const url = await core.api(`${repo}/manifests/${ref}`);
  const res = await core.call({ method: "HEAD", url, scopes: core.scopes(repo), headers: { accept: MANIFEST_ACCEPT }, signal, ...opts });
  await discard(res);
  return res;
}

/** What a HEAD would have said, from a GET (registries that refuse HEAD, or answer it without a digest). */
async function headByGet(core: RegistryCore, repo: string, ref: string, signal?: AbortSignal): Promise<ManifestHead | undefined> {
  try {
    const m = await getManifest(core, repo, ref, signal);
    return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * GET of a manifest, body capped, digest checked: against `ref` when it is
 * a digest, else against Docker-Content-Digest (which must be valid) when
 * the registry sent one. The returned digest is always computed here.
 */
export async function getManifest(core: RegistryCore, repo: string, ref: string, signal?: AbortSignal): Promise<RawManifest> {
  const where = core.where(repo, ref);
  const url = await core.api(`${repo}/manifests/${ref}`);
  let res: HttpResponse;
  let bytes: Buffer;
  for (let attempt = 0; ; attempt++) {
    res = await core.call({
      method: "GET",
      url,
      scopes: core.scopes(repo),
      headers: { accept: MANIFEST_ACCEPT },
      signal,
      followRedirects: true,
    });
    await core.expectStatus(res, [OK], { what: `manifest ${ref}`, where });
    try {
      bytes = await readBody(res, core.maxManifestBytes, `manifest ${ref}`);
      break;
    } catch (err) {
      // The retry loop only covers a request up to its headers; a body that
      // breaks off (connection cut mid-manifest) is a GET worth asking again.
      if (attempt >= core.settings.retries || signal?.aborted || !(err instanceof NetworkError) || !isRetryableError(err.cause)) throw err;
      const wait = retryDelayMs(attempt + 1, undefined);
      core.settings.debug?.(`retrying GET of manifest ${ref} in ${wait} ms: its body broke off`);
      await sleep(wait, signal);
    }
  }
  const expected = Digest.tryParse(ref) ?? headerDigest(res, where);
  const digest = Digest.of(bytes, expected?.algorithm ?? "sha256");
  if (expected && !digest.equals(expected)) {
    const said = Digest.isValid(ref) ? "asked for" : "announced by Docker-Content-Digest";
    throw new IntegrityError(`manifest digest mismatch at ${where}: ${said} ${expected}, got ${digest}`, {
      code: "E_DIGEST_MISMATCH",
      where,
    });
  }
  return { bytes, mediaType: manifestMediaType(header(res.headers, "content-type"), bytes), digest };
}

/** PUT of a manifest under a tag or its digest, with its media type; the registry's digest must be ours. */
export async function putManifest(core: RegistryCore, repo: string, ref: string, m: RawManifest, signal?: AbortSignal): Promise<void> {
  const where = core.where(repo, ref);
  const url = await core.api(`${repo}/manifests/${ref}`);
  const foreign = foreignLayers(m, where);
  // distribution refuses foreign layer URLs its config does not allow with a 500 naming the layer
  // (UNKNOWN, then MANIFEST_BLOB_UNKNOWN): not asked again. Another 500 naming MANIFEST_BLOB_UNKNOWN
  // stays retried (distribution answers a race on a blob's link file so); one naming a verdict
  // (DENIED, TAG_INVALID, …) is never retried (errors.ts, isVerdict).
  const refusal =
    foreign.length === 0
      ? undefined
      : (entries: readonly RegistryErrorEntry[]) =>
          entries.some((e) => foreign.some((d) => e.code === "MANIFEST_BLOB_UNKNOWN" && e.detail === d.digest.toString()));
  for (let attempt = 1; ; attempt++) {
    // The body is a Buffer, so the retry loop may replay it: every manifest PUT is retried.
    const res = await core.call({
      method: "PUT",
      url,
      scopes: core.scopes(repo, "push"),
      headers: { "content-type": m.mediaType },
      body: m.bytes,
      signal,
      ...defined({ refusal }),
    });
    if (isStatus(res.status, MANIFEST_STORED)) {
      await discard(res);
      if (header(res.headers, "oci-subject") !== undefined) core.subjectIndexing.add(repo);
      const other = storedDigestMismatch(res, m.digest);
      if (other) throw new IntegrityError(`registry stored manifest ${m.digest} as ${other}`, { code: "E_DIGEST_MISMATCH", where });
      return;
    }
    const err = await errorFromResponse(res, { what: `manifest ${m.digest}`, where });
    // The bytes are ours and hashed, so DIGEST_INVALID here is rarely about them: distribution 2.8
    // answers it while it rewrites (truncates, then writes) the link file of a blob the manifest
    // refers to, e.g. when another image's upload or mount of the same blob into this repository
    // finishes at that moment. Seen under load in the sync tests; asking again a moment later works.
    if (err.registryCode !== "DIGEST_INVALID" || attempt >= MANIFEST_DIGEST_ATTEMPTS) {
      if (mayBeImmutableTag(ref, res.status, err.registryCode) && (await tagAlreadyNames(core, repo, ref, m, err, signal))) return;
      return core.fail(res, { what: `manifest ${m.digest}`, where }, foreignLayerRefusal(m, foreign, err, where) ?? err);
    }
    core.settings.debug?.(`manifest ${m.digest} at ${where}: DIGEST_INVALID, asking again (${attempt}/${MANIFEST_DIGEST_ATTEMPTS - 1})`);
    await sleep(MANIFEST_DIGEST_RETRY_MS * attempt, signal);
  }
}

/** The layers of an image manifest that carry URLs (foreign, non-distributable), kept at their URLs. */
function foreignLayers(m: RawManifest, where: string): Descriptor[] {
  try {
    const parsed = parseManifest(m.bytes, m.mediaType, where);
    return parsed.kind === "manifest" ? parsed.layers.filter((d) => d.urls !== undefined && d.urls.length > 0) : [];
  } catch {
    return []; // the registry judges it
  }
}

/**
 * A manifest refused for its foreign layers, said in words: dray leaves their blobs at their URLs
 * (as skopeo does: containers/image skips a layer with URLs when the destination accepts foreign
 * layer URLs, and a registry does). distribution answers MANIFEST_BLOB_UNKNOWN for the layer when
 * its config does not allow a URL (validation.manifests.urls.allow / deny), and whatever its config
 * for a URL that is not http:// or https:// or that has a #fragment (the check comes before the
 * allow and deny patterns in registry/storage/schema2manifesthandler.go, verifyManifest):
 * go-containerregistry's foreign.tar names its layer's URL as `example.com`. Only the first kind
 * is helped by the registry's config, so the advice follows the URLs.
 */
function foreignLayerRefusal(m: RawManifest, foreign: readonly Descriptor[], err: DrayError, where: string): DrayError | undefined {
  if (err.registryCode !== "MANIFEST_BLOB_UNKNOWN" && err.registryCode !== "MANIFEST_INVALID") return undefined;
  const named = foreign.filter((d) => err.message.includes(d.digest.toString()));
  const layers = named.length > 0 ? named : foreign;
  if (layers.length === 0) return undefined;
  const which = layers.map((d) => `${d.digest} (urls: ${(d.urls ?? []).join(", ")})`).join(", ");
  const said = err.message.slice(err.message.indexOf(`at ${where}: `) + `at ${where}: `.length);
  const unusable = layers.flatMap((d) => d.urls ?? []).filter((u) => !registryMayAllow(u));
  const advice =
    unusable.length > 0
      ? `${unusable.join(", ")} ${unusable.length === 1 ? "is not an http:// or https:// URL" : "are not http:// or https:// URLs"} ` +
        "without a #fragment, which distribution refuses whatever its configuration: copy into an oci: layout or archive, " +
        "where the layer stays foreign"
      : "allow those URLs in the registry (distribution: validation.manifests.urls.allow) or copy into an oci: layout or archive";
  return new IntegrityError(
    `the registry refused manifest ${m.digest} at ${where} for its foreign layer ${which}, whose blob stays at its URLs: ${advice}; ` +
      `the registry said: ${said}`,
    { code: "E_MANIFEST_INVALID", where, ...defined({ status: err.status }), registryCode: err.registryCode },
  );
}

/** A layer URL distribution's config can allow: an absolute http(s) URL without a fragment (see foreignLayerRefusal). */
function registryMayAllow(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hash === "";
  } catch {
    return false;
  }
}

/**
 * After a refused tag PUT (immutable tags: ECR answers 400 TAG_INVALID
 * "already exists … cannot be overwritten because the tag is immutable",
 * aws/containers-roadmap#862, kaniko#3481; Harbor 412, Artifactory 403):
 * true when the tag already names our manifest (the copy is done), the
 * immutable-tag error when it names another, false when it names none
 * (the caller reports the refusal as it was).
 */
async function tagAlreadyNames(
  core: RegistryCore,
  repo: string,
  tag: string,
  m: RawManifest,
  refusal: DrayError,
  signal?: AbortSignal,
): Promise<boolean> {
  const current = await headManifest(core, repo, tag, signal).catch(() => undefined);
  if (current === undefined) return false;
  if (current.digest.equals(m.digest)) {
    core.settings.debug?.(
      `tag ${tag} refused the PUT (${refusal.registryCode ?? `HTTP ${refusal.status ?? "?"}`}) but already names ${m.digest}: nothing to do`,
    );
    return true;
  }
  throw new RegistryError(
    `tag ${tag} at ${core.where(repo)} is immutable: it names ${current.digest}, and the registry refused to point it at ${m.digest}${refusal.registryCode ? ` (${refusal.registryCode})` : ""}`,
    { where: core.where(repo, tag), ...(refusal.registryCode ? { registryCode: refusal.registryCode } : {}) },
  );
}

/** DELETE of a manifest by digest (registries delete by digest only). */
export async function deleteManifest(core: RegistryCore, repo: string, digest: Digest, signal?: AbortSignal): Promise<void> {
  const where = core.where(repo, digest.toString());
  const url = await core.api(`${repo}/manifests/${digest}`);
  const res = await core.call({ method: "DELETE", url, scopes: core.scopes(repo, "delete"), signal });
  if (res.status === METHOD_NOT_ALLOWED) {
    const err = await errorFromResponse(res, { what: "delete", where });
    err.message = `${err.message}; the registry does not allow deleting (distribution: storage.delete.enabled)`;
    throw err;
  }
  await core.expectStatus(res, DELETED, { what: `manifest ${digest}`, where });
  await discard(res);
}

function headerDigest(res: HttpResponse, where: string): Digest | undefined {
  const value = header(res.headers, "docker-content-digest");
  if (value === undefined) return undefined;
  const d = Digest.tryParse(value.trim());
  if (!d)
    throw new IntegrityError(`registry sent an invalid Docker-Content-Digest "${value.slice(0, 80)}"`, {
      code: "E_DIGEST_MISMATCH",
      where,
    });
  return d;
}

function cleanMediaType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(";")[0]?.trim().toLowerCase();
  return t === "" ? undefined : t;
}

/** The manifest's real media type: the Content-Type when it names one, else the document's field, else its shape. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const declared = cleanMediaType(contentType);
  if (declared && (isManifestType(declared) || isIndexType(declared))) return declared;
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    if (typeof doc.mediaType === "string" && doc.mediaType !== "") return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  } catch {
    // Not JSON: the parser refuses it later with a precise message.
  }
  return declared ?? MediaType.OciManifest;
}

/**
 * A refusal that an immutable tag may explain: a PUT by tag answered 409/412, 400/403 without a code or
 * with one of the codes vendors use for it, or a 5xx with one of those codes (not retried, see isVerdict).
 */
function mayBeImmutableTag(ref: string, status: number, code: string | undefined): boolean {
  if (Digest.isValid(ref)) return false;
  if (status === CONFLICT || status === PRECONDITION_FAILED) return true;
  const saysTag = code !== undefined && ["TAG_INVALID", "MANIFEST_INVALID", "DENIED", "TAG_IMMUTABLE"].includes(code);
  if (status >= INTERNAL_SERVER_ERROR) return saysTag;
  return (status === BAD_REQUEST || status === FORBIDDEN) && (code === undefined || saysTag);
}
