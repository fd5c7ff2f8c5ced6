import { pipeline } from "node:stream/promises";
import { AuthError, IntegrityError, NotFoundError } from "../errors.js";
import { VerifyingStream } from "../oci/digest.js";
import { isIndexType } from "../oci/mediatype.js";
import {
  configPlatform,
  parseImageConfig,
  parseRawManifest,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type RawManifest,
} from "../oci/manifest.js";
import { formatPlatform, hostPlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import { repositoryName } from "../ref/reference.js";
import { openReferences, openSource } from "../transport/index.js";
import type { ImageSource, TransportOptions } from "../transport/types.js";
import { summariseImage, summariseIndex, type ImageSummary, type IndexSummary, type SummaryContext } from "./summary.js";

export { goTime, summariseImage, summariseIndex, SUMMARY_OPTIONAL_FIELDS } from "./summary.js";
export type { ImageSummary, IndexSummary, IndexEntrySummary, LayerData } from "./summary.js";

/** Image configs are small JSON documents; anything past this is refused rather than buffered. */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

export interface InspectOptions {
  /** Picks one image of an index (and is required to see an image's fields when the location names an index). */
  platform?: Platform;
  /** List the repository's tags into RepoTags (registry locations only, as skopeo). Default true. */
  tags?: boolean;
  transport?: TransportOptions;
  signal?: AbortSignal;
}

/** The manifest a command works on: the location's own, or the child `platform` picks from an index. */
export interface ResolvedManifest {
  /** What the location names, exactly as stored. */
  top: RawManifest;
  /** The manifest chosen (equals `top` unless a platform was picked from an index). */
  chosen: RawManifest;
  parsed: ImageManifest | ImageIndex;
}

function where(loc: Location): string {
  return formatLocation(loc);
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

function platformsOf(index: ImageIndex): string {
  const list = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest.short));
  return list.length > 0 ? list.join(", ") : "none";
}

/** Reads the location's manifest and, with `platform`, the index entry it selects. */
export async function resolveManifest(
  source: ImageSource,
  platform: Platform | undefined,
  signal?: AbortSignal,
): Promise<ResolvedManifest> {
  const at = where(source.location);
  const top = await source.getManifest(undefined, signal ? { signal } : {});
  const parsed = parseRawManifest(top, at);
  if (platform === undefined) return { top, chosen: top, parsed };
  if (parsed.kind === "manifest") {
    // A single image answers --platform only for its own platform: what copy does (exit 3), digest and inspect do too.
    const own = parsed.config
      ? configPlatform(parseImageConfig(await readSmallBlob(source, parsed.config, MAX_CONFIG_BYTES, signal), at))
      : undefined;
    if (!platformMatches(platform, own)) {
      throw new NotFoundError(
        `no image for platform ${formatPlatform(platform)} in ${at} (a single-platform image for ${own ? formatPlatform(own) : "an unknown platform"})`,
        { code: "E_PLATFORM_NOT_FOUND", where: at },
      );
    }
    return { top, chosen: top, parsed };
  }
  const chosen = await pickPlatform(source, parsed, platform, at, signal);
  if (!chosen) {
    throw new NotFoundError(`no image for platform ${formatPlatform(platform)} in ${at} (it has: ${platformsOf(parsed)})`, {
      code: "E_PLATFORM_NOT_FOUND",
      where: at,
    });
  }
  return { top, chosen, parsed: parseRawManifest(chosen, at) };
}

/** Reads a small blob fully, checking its size and digest. */
export async function readSmallBlob(source: ImageSource, desc: Descriptor, max: number, signal?: AbortSignal): Promise<Buffer> {
  const at = where(source.location);
  if (desc.size > max)
    throw new IntegrityError(`blob ${desc.digest} of ${desc.size} bytes exceeds the ${max}-byte limit (${at})`, {
      code: "E_TOO_LARGE",
      where: at,
    });
  const stream = await source.getBlob(desc, signal ? { signal } : {});
  const chunks: Buffer[] = [];
  await pipeline(
    stream,
    new VerifyingStream({ digest: desc.digest, size: desc.size, where: at }),
    async (verified: AsyncIterable<Buffer>) => {
      for await (const c of verified) chunks.push(c);
    },
  );
  return Buffer.concat(chunks);
}

/**
 * The image manifest for commands that need one image (--config): the
 * location's, or from an index the requested platform, else this machine's
 * (as skopeo and docker do).
 */
async function resolveImage(
  source: ImageSource,
  platform: Platform | undefined,
  signal?: AbortSignal,
): Promise<{ resolved: ResolvedManifest; manifest: ImageManifest }> {
  let resolved = await resolveManifest(source, platform, signal);
  if (resolved.parsed.kind === "index") resolved = await resolveManifest(source, hostPlatform(), signal);
  if (resolved.parsed.kind !== "manifest")
    throw new NotFoundError(`no image manifest found in ${where(source.location)}`, { where: where(source.location) });
  return { resolved, manifest: resolved.parsed };
}

async function withSource<T>(loc: Location, opts: InspectOptions, fn: (s: ImageSource) => Promise<T>): Promise<T> {
  const source = await openSource(loc, opts.transport ?? {});
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

/** `--raw`: the manifest bytes exactly as stored (the chosen platform's with `platform`). */
export async function inspectRaw(loc: Location, opts: InspectOptions = {}): Promise<RawManifest> {
  return withSource(loc, opts, async (source) => (await resolveManifest(source, opts.platform, opts.signal)).chosen);
}

/** `--config --raw`: the config blob's exact bytes. */
export async function inspectConfigRaw(loc: Location, opts: InspectOptions = {}): Promise<Buffer> {
  return withSource(loc, opts, async (source) => {
    const { manifest } = await resolveImage(source, opts.platform, opts.signal);
    return readSmallBlob(source, manifest.config, MAX_CONFIG_BYTES, opts.signal);
  });
}

/** `--config`: the parsed image config. */
export async function inspectConfig(loc: Location, opts: InspectOptions = {}): Promise<ImageConfig> {
  const bytes = await inspectConfigRaw(loc, opts);
  return parseImageConfig(bytes, where(loc));
}

/** The docker name skopeo reports as `Name`: registry locations and docker-archive NAME:TAG. */
function dockerName(loc: Location): string | undefined {
  if (loc.transport === "docker") return repositoryName(loc.ref);
  if (loc.transport === "docker-archive" && loc.ref) return repositoryName(loc.ref);
  return undefined;
}

/**
 * RepoTags: every tag of the repository, for registry locations only (as
 * skopeo). A registry that refuses the tag list (some do, for pull-only
 * tokens) yields [] and a notice, as skopeo does, instead of failing.
 */
async function repoTags(loc: Location, opts: InspectOptions): Promise<string[]> {
  if (loc.transport !== "docker" || opts.tags === false) return [];
  const refs = await openReferences(loc, opts.transport ?? {});
  try {
    return await refs.listTags(opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if (err instanceof AuthError) {
      opts.transport?.notice?.(`warning: ${loc.ref.domain} refused the tag list of ${loc.ref.path}; RepoTags left empty`);
      return [];
    }
    throw err;
  } finally {
    await refs.close();
  }
}

/**
 * The skopeo-compatible summary. An index is summarised as an index unless
 * `platform` picks an image from it; `Digest` is always the digest of what the
 * location names (for an index, the index's), as skopeo reports it.
 */
export async function inspect(loc: Location, opts: InspectOptions = {}): Promise<ImageSummary | IndexSummary> {
  return withSource(loc, opts, async (source) => {
    // The tag list needs no answer of the manifest's: asked beside it, one round trip fewer on a real link.
    const tagsPending = repoTags(loc, opts);
    tagsPending.catch(() => undefined); // awaited below; abandoned if the manifest fails first (that error wins)
    const resolved = await resolveManifest(source, opts.platform, opts.signal);
    const name = dockerName(loc);
    const context = (repoTags: string[]): SummaryContext => ({
      digest: resolved.top.digest,
      repoTags,
      ...(name === undefined ? {} : { name }),
    });
    if (resolved.parsed.kind === "index") return summariseIndex(context(await tagsPending), resolved.parsed);
    const [tags, configBytes] = await Promise.all([
      tagsPending,
      readSmallBlob(source, resolved.parsed.config, MAX_CONFIG_BYTES, opts.signal),
    ]);
    return summariseImage(context(tags), resolved.parsed, parseImageConfig(configBytes, where(loc)));
  });
}

/** The manifest digest of a location (of the chosen platform's image with `platform`). */
export async function manifestDigest(loc: Location, opts: InspectOptions = {}): Promise<RawManifest> {
  return inspectRaw(loc, opts);
}
