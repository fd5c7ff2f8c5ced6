/** The referrers API of a registry repository (OCI distribution 1.1), told apart from a registry without it. */
import { IntegrityError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor } from "../../oci/manifest.js";
import { MediaType } from "../../oci/mediatype.js";
import type { RegistryCore } from "./core.js";
import { parseErrorBody } from "./errors.js";
import { discard, header, readBody } from "./http/response.js";
import { BAD_REQUEST, METHOD_NOT_ALLOWED, NOT_FOUND, OK } from "./http/status.js";

/** An error answer read to tell "the API said no" from a web server's page. */
const MAX_ERROR_ANSWER_BYTES = 64 * 1024;

/**
 * The referrers API's answer (`GET /v2/<name>/referrers/<digest>`), or
 * undefined when the registry has none, which a mirror must tell apart from
 * "no referrers". The spec forbids a 404 from a registry that implements the
 * API, and distribution 2.8 (no API) answers its unknown route with a
 * plain-text "404 page not found". But for a subject they do not hold,
 * Quay answers 400 (quay/quay#3071, PROJQUAY-7523) and Harbor 2.8–2.10
 * answer 404 (goharbor/harbor#18418, changed in 2.11 by #20068), both with
 * the spec's JSON error body: that is the API answering "none here". So a
 * 400/404 carrying an error body is an empty list; without one, with only
 * UNSUPPORTED in it, or a 405, no API.
 * `filtered` says the registry applied `artifactType` itself (OCI-Filters-Applied).
 */
export async function referrersApi(
  core: RegistryCore,
  repo: string,
  digest: Digest,
  artifactType?: string,
  signal?: AbortSignal,
): Promise<{ descriptors: Descriptor[]; filtered: boolean } | undefined> {
  const where = core.where(repo, digest.toString());
  const url = await core.api(`${repo}/referrers/${digest}`, { artifactType });
  const res = await core.call({ method: "GET", url, scopes: core.scopes(repo), headers: { accept: MediaType.OciIndex }, signal });
  if (res.status === METHOD_NOT_ALLOWED) {
    await discard(res);
    return undefined;
  }
  if (res.status === NOT_FOUND || res.status === BAD_REQUEST) {
    const body = await readBody(res, MAX_ERROR_ANSWER_BYTES, "referrers answer").catch(() => Buffer.alloc(0));
    // UNSUPPORTED is the spec's code for an operation the registry does not implement: no API either.
    const said = parseErrorBody(body).filter((e) => e.code !== "UNSUPPORTED");
    if (said.length === 0) return undefined;
    core.settings.debug?.(`referrers of ${where}: HTTP ${res.status} ${said[0]!.code}, read as the API answering "no referrers"`);
    return { descriptors: [], filtered: false };
  }
  await core.expectStatus(res, [OK], { what: "referrers", where });
  // Referrers indexes are manifests in all but name: the same cap.
  const bytes = await readBody(res, core.maxManifestBytes, "referrers index");
  const filtered = (header(res.headers, "oci-filters-applied") ?? "")
    .split(",")
    .map((s) => s.trim())
    .includes("artifactType");
  return { descriptors: indexDescriptors(bytes, where), filtered };
}

function indexDescriptors(bytes: Buffer, where: string): Descriptor[] {
  const parsed = parseManifest(bytes, MediaType.OciIndex, where);
  if (parsed.kind !== "index") throw new IntegrityError(`referrers of ${where} are not an index`, { code: "E_MANIFEST_INVALID", where });
  return parsed.manifests;
}
