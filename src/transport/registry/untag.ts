/**
 * Removing one tag from a registry repository and nothing else (sync's
 * `--prune`). A registry deletes manifests by digest, and with the manifest
 * every tag on it (distribution 2.8 untags them all; Harbor deletes the
 * artifact), so deleting the tag's digest could take a kept tag with it. The
 * tag is moved to a tiny manifest of its own first (unique: it names the tag
 * and a nonce), and that manifest is deleted. The image the tag named stays,
 * untagged, for the registry's garbage collector. DELETE by tag is not used:
 * what it does differs by vendor (OCI distribution-spec lets registries refuse
 * it; some delete the whole artifact). Whether the registry deletes at all is
 * asked first, so a registry with deletes disabled sees no tag moved and no
 * manifest pushed; when the delete is refused anyway, the tag is put back on
 * its image before the failure is reported.
 */
import { Readable } from "node:stream";
import { NotFoundError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import type { RawManifest } from "../../oci/manifest.js";
import { MediaType } from "../../oci/mediatype.js";
import type { RegistryClient } from "./client.js";

const EMPTY_JSON = Buffer.from("{}");

/**
 * An image manifest no other tag shares: empty config, the tag in its annotations. The same bytes on every run,
 * so a registry that keeps refusing the delete is not left one more manifest per tag per run (a nonce made
 * each run's placeholder new).
 */
function placeholder(tag: string): RawManifest {
  const empty = { mediaType: MediaType.OciEmpty, digest: Digest.of(EMPTY_JSON).toString(), size: EMPTY_JSON.length };
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: empty,
    layers: [empty],
    annotations: { "dev.dray.prune.tag": tag },
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType: MediaType.OciManifest, digest: Digest.of(bytes) };
}

/**
 * Asks, before any tag moves, whether the registry deletes manifests at all: a DELETE of the placeholder's
 * digest, which is not there (404, deletes allowed) unless an interrupted run left it (then it goes, as it
 * should). A registry with deletes disabled answers 405 UNSUPPORTED (distribution without
 * storage.delete.enabled), and that refusal is the error, with nothing changed.
 */
async function deletesAllowed(client: RegistryClient, repo: string, digest: Digest, signal?: AbortSignal): Promise<void> {
  try {
    await client.deleteManifest(repo, digest, signal);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/** Removes `tag` alone from `repo`; returns the digest it named, undefined when it was gone already. */
export async function untag(client: RegistryClient, repo: string, tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
  let original: RawManifest;
  try {
    original = await client.getManifest(repo, tag, signal);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  const tiny = placeholder(tag);
  await deletesAllowed(client, repo, tiny.digest, signal);
  const emptyDigest = Digest.of(EMPTY_JSON);
  if ((await client.headBlob(repo, emptyDigest, signal)) === undefined) {
    await client.putBlob(
      repo,
      { mediaType: MediaType.OciEmpty, digest: emptyDigest, size: EMPTY_JSON.length },
      Readable.from([EMPTY_JSON]),
      signal ? { signal } : {},
    );
  }
  await client.putManifest(repo, tag, tiny, signal);
  try {
    await client.deleteManifest(repo, tiny.digest, signal);
  } catch (err) {
    // The tag must not stay on the placeholder: it goes back to its image before the failure is reported.
    await client.putManifest(repo, tag, original, signal);
    throw err;
  }
  return original.digest;
}
