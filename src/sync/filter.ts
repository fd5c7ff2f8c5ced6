/**
 * Which tags of a repository a sync takes. Filters combine as a user reads
 * them: `names` are taken as listed; `regex`, `semver` and `newest` narrow the
 * repository's own tag list (a tag must pass every one given); the result is
 * both together. Nothing given means every tag. Referrer tags
 * (`sha256-<hex>…`) are never images to take: referrers bring them.
 */
import semver from "semver";
import { UsageError } from "../errors.js";
import { isReferrerTag } from "../oci/referrer-tags.js";

export interface TagFilter {
  /** Exactly these tags (a missing one is reported as not found). */
  names?: string[];
  /** A JavaScript regular expression tested against each tag (unanchored, as skopeo sync's); anchor it with ^…$. */
  regex?: string;
  /** A semver range (`>=1.2 <2`, `^3`, `~1.4.0`); tags are read loosely, so `v1.2.3` is 1.2.3 and `3.19` is 3.19.0. Tags that are no version fail it. */
  semver?: string;
  /** Of the tags that pass, the N highest versions (tags that are no version cannot be ranked and are left out). */
  newest?: number;
  /** Regular expressions (unanchored, like `regex`): a tag any of them matches is never taken, whatever else names it. */
  exclude?: string[];
}

export interface TagSelection {
  /** Tags to take, in the repository's order, names last when not listed. */
  tags: string[];
  /** `names` the repository does not have. */
  missing: string[];
}

/** Checks a filter's grammar once, before any request (bad regex, bad range, N < 1). */
export function checkTagFilter(f: TagFilter): void {
  if (f.regex !== undefined) compileRegex(f.regex);
  if (f.semver !== undefined && semver.validRange(f.semver, { loose: true }) === null) {
    throw new UsageError(`invalid semver range ${JSON.stringify(f.semver)}`);
  }
  for (const e of f.exclude ?? []) compileRegex(e);
  if (f.newest !== undefined && (!Number.isSafeInteger(f.newest) || f.newest < 1)) throw new UsageError(`newest must be an integer ≥ 1, got ${f.newest}`);
}

function compileRegex(text: string): RegExp {
  try {
    return new RegExp(text, "u");
  } catch (err) {
    throw new UsageError(`invalid regular expression ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
}

/** `3`, `3.19`, `v3.19`: image tags often leave out the patch (and minor) number. */
const SHORT_VERSION_RE = /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$/;

/** The version a tag denotes (`v1.2.3`, `1.2.3-rc.1`, `3.19` as 3.19.0), or null. */
export function tagVersion(tag: string): semver.SemVer | null {
  const full = semver.parse(tag, { loose: true });
  if (full) return full;
  const m = SHORT_VERSION_RE.exec(tag);
  return m ? semver.parse(`${m[1]}.${m[2] ?? "0"}.0`) : null;
}

function narrows(f: TagFilter): boolean {
  return f.regex !== undefined || f.semver !== undefined || f.newest !== undefined;
}

/** True when one of the filter's `exclude` expressions matches `tag`. */
export function excluded(f: TagFilter | undefined, tag: string): boolean {
  return (f?.exclude ?? []).some((e) => compileRegex(e).test(tag));
}

/**
 * Applies `f` to a repository's tags. Exclusions go first, so they win over
 * everything (a named tag that is excluded is neither taken nor missing), and
 * `newest` ranks only what is left (skopeo#852 asks for exactly this order).
 */
export function selectTags(all: readonly string[], f: TagFilter = {}): TagSelection {
  const kept = f.exclude && f.exclude.length > 0 ? all.filter((t) => !excluded(f, t)) : all;
  const images = kept.filter((t) => !isReferrerTag(t));
  const names = (f.names ?? []).filter((n) => !excluded(f, n));
  if ((f.names ?? []).length === 0 && !narrows(f)) return { tags: [...images], missing: [] };
  const picked = new Set<string>();
  if (narrows(f)) for (const t of narrowTags(images, f)) picked.add(t);
  const have = new Set(all);
  const missing = names.filter((n) => !have.has(n));
  for (const n of names) if (have.has(n)) picked.add(n);
  const ordered = images.filter((t) => picked.has(t));
  const extra = [...picked].filter((t) => !ordered.includes(t));
  return { tags: [...ordered, ...extra], missing };
}

function narrowTags(tags: readonly string[], f: TagFilter): string[] {
  const re = f.regex === undefined ? undefined : compileRegex(f.regex);
  let out = tags.filter((t) => re === undefined || re.test(t));
  if (f.semver !== undefined) {
    const range = f.semver;
    out = out.filter((t) => {
      const v = tagVersion(t);
      return v !== null && semver.satisfies(v, range, { loose: true, includePrerelease: false });
    });
  }
  if (f.newest !== undefined) {
    const ranked = out.map((t) => ({ t, v: tagVersion(t) })).filter((x): x is { t: string; v: semver.SemVer } => x.v !== null);
    // Highest first; equal versions (v1.0 and 1.0.0) keep the repository's order.
    ranked.sort((a, b) => semver.rcompare(a.v, b.v));
    const keep = new Set(ranked.slice(0, f.newest).map((x) => x.t));
    out = out.filter((t) => keep.has(t));
  }
  return out;
}
