/**
 * Removing one tag from a registry repository and nothing else (sync's
 * `--prune`). A registry deletes manifests by digest, and with the manifest
 * every tag on it (distribution 2.8 untags them all; Harbor deletes the
 * artifact), so deleting the tag's digest could take a kept tag with it. The
 * tag is moved to a tiny manifest of its own first (unique: it names the tag
 * and a nonce), and that manifest is deleted. The image the tag named stays,
 * untagged, for the registry's garbage collector. DELETE by tag is not used:
 * what it does differs by vendor (OCI distribution-spec lets registries refuse
 * it; some delete the whole artifact). When the delete is refused, the tag is
 * put back on its image before the failure is reported.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { NotFoundError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import type { RawManifest } from "../../oci/manifest.js";
import { MediaType } from "../../oci/mediatype.js";
import type { RegistryClient } from "./client.js";

const EMPTY_JSON = Buffer.from("{}");

/** An image manifest no other tag can share: empty config, the tag and a nonce in its annotations. */
function placeholder(tag: string): RawManifest {
  const empty = { mediaType: MediaType.OciEmpty, digest: Digest.of(EMPTY_JSON).toString(), size: EMPTY_JSON.length };
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: empty,
    layers: [empty],
    annotations: { "dev.dray.prune.tag": tag, "dev.dray.prune.nonce": randomBytes(16).toString("hex") },
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType: MediaType.OciManifest, digest: Digest.of(bytes) };
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
