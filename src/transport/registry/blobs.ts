/** Blobs in a registry repository: HEAD, a resumable GET, and cross-repository mounts (uploads are upload.ts). */
import type { Readable } from "node:stream";
import { AuthError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import type { Descriptor } from "../../oci/manifest.js";
import { ResumableBlobStream } from "./blob-stream.js";
import type { RegistryCore } from "./core.js";
import { discard, header, type HttpResponse } from "./http/response.js";
import { redactURL } from "./http/redact.js";
import { repositoryScope } from "./scope.js";
import { ACCEPTED, CREATED, NOT_FOUND, OK, REDIRECT_STATUS } from "./http/status.js";
import { defined } from "../../defined.js";

/**
 * HEAD of a blob: its size, or undefined when the repository does not hold
 * it; -1 when the registry redirects to its storage (the blob exists, and a
 * pre-signed storage URL would not answer a HEAD it was not signed for).
 */
export async function headBlob(core: RegistryCore, repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
  const url = await core.api(`${repo}/blobs/${digest}`);
  const res = await core.call({ method: "HEAD", url, scopes: core.scopes(repo), signal });
  await discard(res);
  if (res.status === NOT_FOUND) return undefined;
  if (REDIRECT_STATUS.has(res.status)) return -1;
  await core.expectStatus(res, [OK], { what: `blob ${digest}`, where: core.where(repo) });
  return Number(header(res.headers, "content-length") ?? "-1");
}

/** A resumable stream of a blob's bytes (sizes checked; the digest is the caller's). */
export async function getBlob(core: RegistryCore, repo: string, desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
  const where = `blob ${desc.digest} at ${core.where(repo)}`;
  const url = await core.api(`${repo}/blobs/${desc.digest}`);
  const open = async (offset: number): Promise<HttpResponse> => {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    return core.call({ method: "GET", url, scopes: core.scopes(repo), headers, signal, followRedirects: true });
  };
  const first = await open(0);
  await core.expectStatus(first, [OK], { what: `blob ${desc.digest}`, where: core.where(repo) });
  return new ResumableBlobStream(first, open, {
    // size -1: a blob no manifest describes (`dray blob`); the registry's Content-Length is then the size held to.
    size: desc.size >= 0 ? desc.size : Number(header(first.headers, "content-length") ?? Number.NaN),
    where,
    attempts: core.settings.retries,
    ...defined({ signal }),
    onResume: (offset, attempt) => core.settings.debug?.(`resuming ${where} at byte ${offset} (attempt ${attempt})`),
  });
}

/**
 * Cross-repository mount: true when the registry mounted (201). On 202 the
 * registry opened an upload session instead, returned for the upload to use.
 * A refusal (401/403, unknown source) is "not mounted", never an error.
 */
export async function mountBlob(
  core: RegistryCore,
  repo: string,
  digest: Digest,
  fromRepo: string,
  signal?: AbortSignal,
): Promise<{ mounted: boolean; session?: URL }> {
  const url = await core.api(`${repo}/blobs/uploads/`, { mount: digest.toString(), from: fromRepo });
  const scopes = [...core.scopes(repo, "push"), repositoryScope(fromRepo, ["pull"])];
  let res: HttpResponse;
  // A 202 opens an upload session, as openSession's POST does: a signal while the answer is on the way waits for it.
  const late = lateSignal(signal);
  try {
    res = await core.call({ method: "POST", url, scopes, headers: { "content-length": "0" }, body: Buffer.alloc(0), signal: late.signal });
  } catch (err) {
    // The token service may refuse the combined scopes (no pull right on the source, or a service that
    // grants one repository per token, as GitLab's project-scoped tokens do): the blob is uploaded instead.
    if (!(err instanceof AuthError)) throw err;
    core.settings.debug?.(`mount of ${digest} from ${fromRepo} refused by the token service (${err.message}); uploading instead`);
    return { mounted: false };
  } finally {
    late.done();
  }
  await discard(res);
  if (res.status === CREATED) return { mounted: true };
  const location = header(res.headers, "location");
  const session = res.status === ACCEPTED && location ? uploadLocation(location, url, url) : undefined;
  if (signal?.aborted) {
    if (session) await cancelUpload(core, repo, session);
    throw signal.reason;
  }
  return session ? { mounted: false, session } : { mounted: false };
}

/**
 * How long cancelling one upload session may take. It runs after a failure or a signal (Ctrl-C waits for
 * it), so it has a deadline of its own rather than the run's signal, which a signal has already aborted.
 */
export const CANCEL_UPLOAD_MS = 2_000;

/**
 * The run's signal, followed CANCEL_UPLOAD_MS late, for the POST that opens an upload session: the registry
 * opens the session on receiving it, so a signal while its answer is on the way would leave that session
 * unknown to dray and open in the registry's storage. Awaited a little longer, the answer names it and it is
 * cancelled. `done()` unhooks it from the run's signal once the POST is over.
 */
export function lateSignal(signal: AbortSignal | undefined): { signal: AbortSignal | undefined; done: () => void } {
  if (!signal) return { signal: undefined, done: () => undefined };
  const late = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const follow = (): void => {
    timer = setTimeout(() => late.abort(signal.reason), CANCEL_UPLOAD_MS);
    timer.unref();
  };
  if (signal.aborted) follow();
  else signal.addEventListener("abort", follow, { once: true });
  return {
    signal: late.signal,
    done: () => {
      signal.removeEventListener("abort", follow);
      clearTimeout(timer);
    },
  };
}

/**
 * Cancels an upload session (DELETE of its Location), best effort: one attempt within CANCEL_UPLOAD_MS,
 * and no error of its own. Distribution keeps a session's folder (and its partial data) under the
 * repository's _uploads until its purge, days later by default, unless the client cancels it.
 */
export async function cancelUpload(core: RegistryCore, repo: string, session: URL): Promise<void> {
  const signal = AbortSignal.timeout(CANCEL_UPLOAD_MS);
  try {
    await discard(await core.call({ method: "DELETE", url: session, scopes: core.scopes(repo, "push"), noRetry: true, signal }));
  } catch {
    // The registry purges abandoned sessions anyway; the caller's own error is the one to report.
    core.settings.debug?.(`upload session ${redactURL(session)} not cancelled${signal.aborted ? ` within ${CANCEL_UPLOAD_MS} ms` : ""}`);
  }
}

/**
 * Where an upload's next step goes: `location` resolved against the request
 * it answered, `current`. One correction: a registry reached over https that
 * names its own host with http:// (behind a TLS-terminating proxy that does
 * not pass X-Forwarded-Proto: distribution/distribution#479, #123) is asked
 * over https, so the blob and the credential never travel in clear text.
 * crane does the same (go-containerregistry transport/schemer.go sends every
 * request for the registry's host with the scheme its ping settled on);
 * containers/image (skopeo) follows the Location as given. A Location on
 * another host (a storage service's pre-signed URL) is followed as given:
 * RegistryClient.call sends no Authorization outside the registry's origin.
 */
export function uploadLocation(location: string, current: URL, registry: URL): URL {
  const next = new URL(location, current);
  const sameHost = next.hostname === registry.hostname && (next.port === "" || next.port === registry.port);
  if (registry.protocol === "https:" && next.protocol === "http:" && sameHost) {
    next.protocol = "https:";
    next.port = registry.port;
  }
  return next;
}
