/**
 * `--prune`: destination tags the source no longer has are removed once their
 * repository synced without a failure. Only a tag goes, never another tag's
 * image:
 *
 * - A registry deletes manifests by digest, and with the manifest every tag
 *   on it (distribution 2.8 untags them all; Harbor deletes the artifact), so
 *   deleting the tag's digest could take a kept tag with it. The tag is moved
 *   to a tiny manifest of its own first (unique: it names the tag and a
 *   nonce), and that manifest is deleted. The image the tag named stays,
 *   untagged, for the registry's garbage collector. DELETE by tag is not used:
 *   what it does differs by vendor (OCI distribution-spec lets registries
 *   refuse it; some delete the whole artifact). When the delete is refused,
 *   the tag is put back on its image and reported as left in place.
 * - A layout (oci:) drops the ref.name and the blobs nothing references any more.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { NotFoundError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import type { RawManifest } from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import { isReferrerTag } from "../oci/referrer-tags.js";
import { itemError, type ItemError } from "../errors.js";
import type { RepositoryFactory } from "../transport/repository.js";
import type { Repository } from "../transport/types.js";
import { openReferences } from "../transport/index.js";
import { excluded, selectTags, tagVersion, type TagFilter } from "./filter.js";

/** One destination tag a prune removed, would remove (dry run), or could not remove. */
export interface PruneItem {
  destination: string;
  tag: string;
  /** The image the tag named. */
  digest?: string;
  outcome: "pruned" | "planned" | "failed";
  error?: ItemError;
}

/**
 * Destination tags to prune: the source does not list them, the rule's filter
 * would have taken them (`newest` aside: it ranks the source's tags, and a tag
 * the source still has is never pruned), `keep` says they are this run's
 * (its shard). Referrer tags are left to the referrer copy.
 */
export function pruneCandidates(
  destTags: readonly string[],
  sourceTags: readonly string[],
  filter: TagFilter | undefined,
  keep: (tag: string) => boolean,
): string[] {
  const have = new Set(sourceTags);
  const gone = destTags.filter((t) => !have.has(t) && !isReferrerTag(t) && !excluded(filter, t) && keep(t));
  const { newest: _ranked, ...rest } = filter ?? {};
  const names = new Set(rest.names ?? []);
  // A named tag the source lost is taken by the filter; the narrowing filters decide the others.
  const narrowed =
    rest.regex === undefined && rest.semver === undefined && names.size > 0 ? [] : selectTags(gone, { ...rest, names: [] }).tags;
  // `newest` never takes a tag that is no version.
  const ranked = filter?.newest === undefined ? narrowed : narrowed.filter((t) => tagVersion(t) !== null);
  const taken = new Set([...ranked, ...gone.filter((t) => names.has(t))]);
  return gone.filter((t) => taken.has(t));
}

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

/** Removes `tag` alone from a registry repository; returns the digest it named, undefined when it was gone already. */
async function untagRegistry(
  client: Awaited<ReturnType<RepositoryFactory["client"]>>,
  repo: string,
  tag: string,
  signal: AbortSignal,
): Promise<string | undefined> {
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
      { signal },
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
  return original.digest.toString();
}

/** Removes `tag` from `dst` (a registry repository or a layout). */
export async function removeTag(
  dst: Repository,
  destinations: RepositoryFactory,
  tag: string,
  signal: AbortSignal,
): Promise<string | undefined> {
  const loc = dst.location;
  if (loc.transport === "docker") return untagRegistry(await destinations.client(loc), loc.ref.path, tag, signal);
  const refs = await openReferences(dst.at({ tag }), destinations.options(loc));
  try {
    return (await refs.deleteReference()).digest.toString();
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  } finally {
    await refs.close();
  }
}

/** The item for a tag whose removal failed: the tag is still there. */
export function pruneFailure(destination: string, tag: string, err: unknown): PruneItem {
  const e = itemError(err);
  return { destination, tag, outcome: "failed", error: { code: e.code, message: `tag left in place: ${e.message}` } };
}
