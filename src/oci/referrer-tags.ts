/**
 * The tag names that carry referrers on registries without the referrers
 * API, and the names cosign writes. Pure grammar, no I/O.
 *
 * - `sha256-<hex>`: the OCI distribution spec's referrers tag schema, an
 *   index listing every manifest whose `subject` is `sha256:<hex>`.
 * - `sha256-<hex>.sig|.att|.sbom`: cosign's signatures, attestations and
 *   SBOMs of `sha256:<hex>` (plain manifests, no `subject`: the tag names it).
 */
import { Digest, type DigestAlgorithm } from "./digest.js";

export type ReferrerTagKind = "index" | "sig" | "att" | "sbom";

export interface ReferrerTag {
  tag: string;
  /** The digest the tag's content refers to. */
  subject: Digest;
  kind: ReferrerTagKind;
}

/** The cosign suffixes dray knows (signatures, attestations, SBOMs). */
export const COSIGN_SUFFIXES = ["sig", "att", "sbom"] as const;

// Algorithms dray verifies. A sha512 index tag is cut to 64 hex characters (see referrersTag); cosign's tags are not.
const REFERRER_TAG_RE = /^(sha256|sha512)-([a-f0-9]{64}|[a-f0-9]{128})(?:\.(sig|att|sbom))?$/;
const TRUNCATED_SHA512_INDEX_RE = /^sha512-[a-f0-9]{64}$/;

/**
 * The tag schema's fallback tag for `subject`, `<alg>-<ref>`: the OCI
 * distribution spec ("Referrers Tag Schema", v1.1) truncates the algorithm to
 * 32 and the hex to 64 characters, so a sha512 subject's tag carries only the
 * first half of its digest. The one place this tag is built.
 */
export function referrersTag(subject: Digest): string {
  return `${subject.algorithm.slice(0, 32)}-${subject.hex.slice(0, 64)}`;
}

/** The cosign tag of `subject` for one suffix: `sha256-<hex>.sig` (cosign writes the whole digest). */
export function cosignTag(subject: Digest, suffix: (typeof COSIGN_SUFFIXES)[number]): string {
  return `${subject.algorithm}-${subject.hex}.${suffix}`;
}

/** The referrer a tag carries, or undefined for an ordinary tag. */
export function parseReferrerTag(tag: string): ReferrerTag | undefined {
  const m = REFERRER_TAG_RE.exec(tag);
  if (!m) return undefined;
  const subject = Digest.tryParse(`${m[1] as DigestAlgorithm}:${m[2]!}`);
  if (!subject) return undefined; // wrong hex length for the algorithm
  return { tag, subject, kind: (m[3] as ReferrerTagKind | undefined) ?? "index" };
}

/** True for the tag schema's and cosign's tags, a truncated sha512 index tag included (its subject cannot be read back). */
export function isReferrerTag(tag: string): boolean {
  return parseReferrerTag(tag) !== undefined || TRUNCATED_SHA512_INDEX_RE.test(tag);
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
