/**
 * The referrers API request itself (`GET /v2/<name>/referrers/<digest>`),
 * telling "no such API" apart from "no referrers": the registry client's
 * listReferrers hides the difference by falling back to the tag schema,
 * but a mirror must know which form the store keeps.
 */
import { IntegrityError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { parseManifest, type Descriptor } from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import type { RegistryClient } from "../transport/registry/client.js";
import { discard, readBody } from "../transport/registry/http.js";

/** Referrers indexes are manifests in all but name: the same cap. */
const MAX_REFERRERS_BYTES = 4 * 1024 * 1024;

/**
 * The descriptors the referrers API lists for `subject`, or undefined when
 * the registry has no referrers API. The spec forbids a 404 from a registry
 * that implements it, so 404 (distribution 2.8), 405 and 400 mean "none".
 */
export async function fetchReferrersApi(client: RegistryClient, repo: string, subject: Digest, signal?: AbortSignal): Promise<Descriptor[] | undefined> {
  const where = client.where(repo, subject.toString());
  const url = await client.api(`${repo}/referrers/${subject}`);
  const res = await client.call({ method: "GET", url, scopes: client.scopes(repo), headers: { accept: MediaType.OciIndex }, ...(signal ? { signal } : {}) });
  if (res.status === 404 || res.status === 405 || res.status === 400) {
    await discard(res);
    return undefined;
  }
  if (res.status !== 200) return client.fail(res, { what: "referrers", where });
  const bytes = await readBody(res, MAX_REFERRERS_BYTES, "referrers index");
  const parsed = parseManifest(bytes, MediaType.OciIndex, `referrers of ${where}`);
  if (parsed.kind !== "index") throw new IntegrityError(`referrers of ${where} are not an index`, { code: "E_MANIFEST_INVALID", where });
  return parsed.manifests;
}
