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
  if (f.semver !== undefined) parseRange(f.semver);
  for (const e of f.exclude ?? []) compileRegex(e);
  if (f.newest !== undefined && (!Number.isSafeInteger(f.newest) || f.newest < 1))
    throw new UsageError(`newest must be an integer ≥ 1, got ${f.newest}`);
}

function compileRegex(text: string): RegExp {
  try {
    return new RegExp(text, "u");
  } catch (err) {
    throw new UsageError(`invalid regular expression ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
}

/** `3`, `3.19`, `v3.19`, `2.1-rc`: image tags often leave out the patch (and minor) number, also before a pre-release. */
const SHORT_VERSION_RE = /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(-[0-9A-Za-z][0-9A-Za-z.-]*)?(\+[0-9A-Za-z.-]+)?$/;

/** The version a tag denotes (`v1.2.3`, `1.2.3-rc.1`, `3.19` as 3.19.0, `2.1-rc` as 2.1.0-rc), or null. */
export function tagVersion(tag: string): semver.SemVer | null {
  const full = semver.parse(tag, { loose: true });
  if (full) return full;
  const m = SHORT_VERSION_RE.exec(tag);
  return m ? semver.parse(`${m[1]}.${m[2] ?? "0"}.0${m[3] ?? ""}${m[4] ?? ""}`) : null;
}

/**
 * A version with a pre-release but no patch (`2.1-rc`, `3-beta.1`) inside a
 * range. semver reads `>=2.1` (a partial version) but refuses `>=2.1-rc`;
 * tags are read with the patch filled in, so ranges are too.
 */
const SHORT_PRERELEASE_IN_RANGE_RE = /(^|[\s<>=~^|])v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(-[0-9A-Za-z][0-9A-Za-z.-]*)(?=$|[\s|])/g;

/**
 * Parses a --semver range as tags are read (partial versions completed); a
 * bad range is exit 2. When the range names a pre-release, pre-releases of
 * any version may pass (README: "pre-releases only if the range names
 * one"); semver alone would take them only on the very version named.
 */
export function parseRange(text: string): semver.Range {
  const coerced = text.replace(
    SHORT_PRERELEASE_IN_RANGE_RE,
    (_m, lead: string, major: string, minor: string | undefined, pre: string) => `${lead}${major}.${minor ?? "0"}.0${pre}`,
  );
  let range: semver.Range;
  try {
    range = new semver.Range(coerced, { loose: true });
  } catch {
    throw new UsageError(`invalid semver range ${JSON.stringify(text)}`);
  }
  // Read from the text, not the parsed comparators: semver turns `<2` into `<2.0.0-0` itself.
  const namesPrerelease = /\d-[0-9A-Za-z]/.test(coerced);
  return namesPrerelease ? new semver.Range(coerced, { loose: true, includePrerelease: true }) : range;
}

/** `semver ">=9"` for a note when a filter took nothing; undefined when none narrows. */
export function describeNarrowing(f: TagFilter): string | undefined {
  const parts: string[] = [];
  if (f.regex !== undefined) parts.push(`regex ${JSON.stringify(f.regex)}`);
  if (f.semver !== undefined) parts.push(`semver ${JSON.stringify(f.semver)}`);
  if (f.newest !== undefined) parts.push(`newest ${f.newest}`);
  return parts.length > 0 ? parts.join(", ") : undefined;
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
    const range = parseRange(f.semver);
    out = out.filter((t) => {
      const v = tagVersion(t);
      return v !== null && range.test(v);
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
