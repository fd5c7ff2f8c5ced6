/**
 * The tag names that carry referrers on registries without the referrers
 * API, and the names cosign writes. Pure grammar, no I/O.
 *
 * - `sha256-<hex>`: the OCI distribution spec's referrers tag schema, an
 *   index listing every manifest whose `subject` is `sha256:<hex>`.
 * - `sha256-<hex>.sig|.att|.sbom`: cosign's signatures, attestations and
 *   SBOMs of `sha256:<hex>` (plain manifests, no `subject`: the tag names it).
 */
import { Digest, type DigestAlgorithm } from "../oci/digest.js";

export type ReferrerTagKind = "index" | "sig" | "att" | "sbom";

export interface ReferrerTag {
  tag: string;
  /** The digest the tag's content refers to. */
  subject: Digest;
  kind: ReferrerTagKind;
}

/** The cosign suffixes dray knows (signatures, attestations, SBOMs). */
export const COSIGN_SUFFIXES = ["sig", "att", "sbom"] as const;

// Algorithms dray verifies; the schema truncates to 32 + 64 characters, which these never reach.
const REFERRER_TAG_RE = /^(sha256|sha512)-([a-f0-9]{64}|[a-f0-9]{128})(?:\.(sig|att|sbom))?$/;

/** The tag schema's fallback tag for `subject`: `sha256-<hex>`. */
export function referrersIndexTag(subject: Digest): string {
  return `${subject.algorithm}-${subject.hex}`;
}

/** The cosign tag of `subject` for one suffix: `sha256-<hex>.sig`. */
export function cosignTag(subject: Digest, suffix: (typeof COSIGN_SUFFIXES)[number]): string {
  return `${referrersIndexTag(subject)}.${suffix}`;
}

/** The referrer a tag carries, or undefined for an ordinary tag. */
export function parseReferrerTag(tag: string): ReferrerTag | undefined {
  const m = REFERRER_TAG_RE.exec(tag);
  if (!m) return undefined;
  const subject = Digest.tryParse(`${m[1] as DigestAlgorithm}:${m[2]!}`);
  if (!subject) return undefined; // wrong hex length for the algorithm
  return { tag, subject, kind: (m[3] as ReferrerTagKind | undefined) ?? "index" };
}

export function isReferrerTag(tag: string): boolean {
  return parseReferrerTag(tag) !== undefined;
}

/** The referrer tags among `tags`, grouped by subject digest (`sha256:<hex>`). */
export function groupReferrerTags(tags: Iterable<string>): Map<string, ReferrerTag[]> {
  const out = new Map<string, ReferrerTag[]>();
  for (const t of tags) {
    const r = parseReferrerTag(t);
    if (!r) continue;
    const key = r.subject.toString();
    const list = out.get(key) ?? [];
    list.push(r);
    out.set(key, list);
  }
  return out;
}
