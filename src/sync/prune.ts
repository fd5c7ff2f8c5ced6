/**
 * `--prune`: destination tags the source no longer has are removed once their
 * repository synced without a failure. Only a tag goes, never another tag's
 * image: Repository.removeTag does the removing (a registry's placeholder
 * manifest, a layout's ref.name); a tag whose removal failed is reported as
 * left in place.
 */
import { isReferrerTag } from "../oci/referrer-tags.js";
import { itemError, type ItemError } from "../errors.js";
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

/** The item for a tag whose removal failed: the tag is still there. */
export function pruneFailure(destination: string, tag: string, err: unknown): PruneItem {
  const e = itemError(err);
  return { destination, tag, outcome: "failed", error: { code: e.code, message: `tag left in place: ${e.message}` } };
}
