/**
 * Which manifest a command works on: the location's own, the child an index
 * offers for a platform, or (for commands that need one image) this machine's
 * platform from an index. One wording for a platform that is not there.
 */
import { NotFoundError } from "../errors.js";
import { isIndexType } from "../oci/mediatype.js";
import {
  configPlatform,
  parseImageConfig,
  parseRawManifest,
  type ImageIndex,
  type ImageManifest,
  type RawManifest,
} from "../oci/manifest.js";
import { formatPlatform, hostPlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";
import { readSmallBlob } from "./read.js";

/** The manifest a command works on: the location's own, or the child `platform` picks from an index. */
export interface ResolvedManifest {
  /** What the location names, exactly as stored. */
  top: RawManifest;
  /** The manifest chosen (equals `top` unless a platform was picked from an index). */
  chosen: RawManifest;
  parsed: ImageManifest | ImageIndex;
}

/** What a location offers instead of a missing platform: an index's entries, or a single image's own platform. */
export type Offered = { index: ImageIndex } | { platforms: readonly Platform[] } | { single: Platform | undefined };

/** E_PLATFORM_NOT_FOUND (exit 3), worded the same for every command; `hint` follows after a semicolon. */
export function platformNotFound(wanted: Platform, where: string, offered: Offered, hint?: string): NotFoundError {
  let what: string;
  if ("single" in offered) {
    what = `a single-platform image for ${offered.single ? formatPlatform(offered.single) : "an unknown platform"}`;
  } else {
    const list = "index" in offered ? platformsOf(offered.index) : offered.platforms.map(formatPlatform);
    what = `available: ${list.length > 0 ? list.join(", ") : "none"}`;
  }
  return new NotFoundError(`platform ${formatPlatform(wanted)} not found in ${where} (${what})${hint ? `; ${hint}` : ""}`, {
    code: "E_PLATFORM_NOT_FOUND",
    where,
  });
}

/** The platforms an index's entries name, in its order. */
export function platformsOf(index: ImageIndex): string[] {
  return index.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
}

/**
 * Picks the entry of `index` for `platform`. Entries that are indexes
 * themselves (nested indexes, as some layouts have) are searched too.
 */
async function pickPlatform(
  source: ImageSource,
  index: ImageIndex,
  platform: Platform,
  at: string,
  signal?: AbortSignal,
): Promise<RawManifest | undefined> {
  const opts = signal ? { signal } : {};
  const direct = index.manifests.find((d) => !isIndexType(d.mediaType) && platformMatches(platform, d.platform));
  if (direct) return source.getManifest(direct.digest, opts);
  for (const d of index.manifests.filter((m) => isIndexType(m.mediaType))) {
    const raw = await source.getManifest(d.digest, opts);
    const inner = parseRawManifest(raw, at);
    if (inner.kind !== "index") continue;
    const found = await pickPlatform(source, inner, platform, at, signal);
    if (found) return found;
  }
  return undefined;
}

/** Reads the location's manifest and, with `platform`, the index entry it selects. */
export async function resolveManifest(
  source: ImageSource,
  platform: Platform | undefined,
  signal?: AbortSignal,
): Promise<ResolvedManifest> {
  const at = formatLocation(source.location);
  const top = await source.getManifest(undefined, signal ? { signal } : {});
  const parsed = parseRawManifest(top, at);
  if (platform === undefined) return { top, chosen: top, parsed };
  if (parsed.kind === "manifest") {
    // A single image answers --platform only for its own platform: what copy does (exit 3), digest and inspect do too.
    const own = parsed.config ? await imagePlatform(source, parsed, signal) : undefined;
    if (!platformMatches(platform, own)) throw platformNotFound(platform, at, { single: own });
    return { top, chosen: top, parsed };
  }
  const chosen = await pickPlatform(source, parsed, platform, at, signal);
  if (!chosen) throw platformNotFound(platform, at, { index: parsed });
  return { top, chosen, parsed: parseRawManifest(chosen, at) };
}

/**
 * The image manifest for commands that need one image (inspect --config,
 * export, cat, mutate): the location's, or from an index the requested
 * platform, else this machine's (as skopeo and docker do).
 */
export async function resolveImage(
  source: ImageSource,
  platform: Platform | undefined,
  signal?: AbortSignal,
): Promise<{ resolved: ResolvedManifest; manifest: ImageManifest }> {
  let resolved = await resolveManifest(source, platform, signal);
  if (resolved.parsed.kind === "index") resolved = await resolveManifest(source, hostPlatform(), signal);
  const at = formatLocation(source.location);
  if (resolved.parsed.kind !== "manifest") throw new NotFoundError(`no image manifest found in ${at}`, { where: at });
  return { resolved, manifest: resolved.parsed };
}

/** The platform a single image's config names (undefined when it names none). */
export async function imagePlatform(source: ImageSource, manifest: ImageManifest, signal?: AbortSignal): Promise<Platform | undefined> {
  const at = formatLocation(source.location);
  return configPlatform(parseImageConfig(await readSmallBlob(source, manifest.config, signal ? { signal } : {}), at));
}
