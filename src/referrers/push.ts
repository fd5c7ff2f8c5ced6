/**
 * Pushing a new referrer (a signature, a bundle, an attached artifact) next
 * to its subject, in the form the store supports: a store with the
 * referrers API indexes the manifest's `subject` itself; any other (a
 * distribution 2.8 registry, an OCI layout, a mirror archive's layout) gets
 * the tag schema's `sha256-<hex>` index, read and rewritten to list what it
 * listed plus the new manifest (nothing it listed is dropped). Also a
 * manifest under a tag of its own (cosign's `sha256-<hex>.sig`).
 *
 * The one place new referrers are written: `dray sign`, re-signing on copy
 * and sync, and `dray attach` go through here.
 */
import { Readable } from "node:stream";
import type { Digest } from "../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { referrersTag } from "../oci/referrer-tags.js";
import type { Repository, SignalOption } from "../transport/types.js";
import { buildReferrersIndex } from "./copy.js";

/** A blob the new manifest needs, with its bytes (signature payloads, bundles, attached files: small, held in memory). */
export interface PushBlob {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface PushedManifest {
  digest: Digest;
  /** How the subject finds it: the store's referrers API, the tag schema's index (its tag), or a tag of its own. */
  via: "api" | "tag-schema" | "tag";
  /** The tag written: the index tag (tag-schema) or the manifest's own tag. */
  tag?: string;
  /** The tag schema's index as now stored (tag-schema only). */
  index?: Digest;
}

/**
 * Stores `manifest` and its `blobs` in `repo`: by digest, or under `tag`.
 * Blobs first (those already there are skipped), then the manifest; one
 * destination commit, so a layout's index.json changes once.
 */
export async function pushManifest(
  repo: Repository,
  manifest: RawManifest,
  blobs: readonly PushBlob[],
  opts: SignalOption & { tag?: string } = {},
): Promise<void> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  await repo.prepare();
  const dst = await repo.openDestination(opts.tag !== undefined ? { tag: opts.tag, digest: manifest.digest } : { digest: manifest.digest });
  try {
    for (const b of blobs) {
      if (await dst.hasBlob(b.descriptor, signal)) continue;
      await dst.putBlob(b.descriptor, Readable.from([b.bytes]), signal);
    }
    await dst.putManifest(manifest, { isTop: true, ...(opts.tag !== undefined ? { tag: opts.tag } : {}), ...signal });
    await dst.commit();
  } catch (err) {
    await dst.abort().catch(() => undefined);
    throw err;
  }
}

/**
 * Pushes `manifest` (whose `subject` is `subject`) and makes the subject's
 * referrers list it: through the API where the store has one, else by
 * adding it to the tag schema's index. `listed` is how the index describes
 * it (artifactType and annotations, as the referrers API would list them).
 */
export async function pushReferrer(
  repo: Repository,
  subject: Digest,
  manifest: RawManifest,
  blobs: readonly PushBlob[],
  listed: Pick<Descriptor, "artifactType" | "annotations">,
  opts: SignalOption = {},
): Promise<PushedManifest> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  await pushManifest(repo, manifest, blobs, signal);
  // Asked after the PUT: a registry that answered it with OCI-Subject indexes referrers itself.
  if (await repo.hasReferrersApi(subject, signal)) return { digest: manifest.digest, via: "api" };
  const tag = referrersTag(subject);
  const head = await repo.resolve(tag, signal);
  const had = head ? listedIn(await repo.getManifest(head.digest, signal), `${repo.display}:${tag}`) : [];
  const entry: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length, ...listed };
  const others = had.filter((d) => !d.digest.equals(manifest.digest));
  if (head && others.length < had.length) return { digest: manifest.digest, via: "tag-schema", tag, index: head.digest };
  const index = buildReferrersIndex([...others, entry]);
  await repo.putReferrersIndex(subject, index, signal);
  return { digest: manifest.digest, via: "tag-schema", tag, index: index.digest };
}

function listedIn(raw: RawManifest, where: string): Descriptor[] {
  const parsed = parseManifest(raw.bytes, raw.mediaType, where);
  return parsed.kind === "index" ? parsed.manifests : [];
}
