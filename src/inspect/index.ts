import { AuthError } from "../errors.js";
import { readSmallBlob } from "../image/read.js";
import { resolveImage, resolveManifest } from "../image/resolve.js";
import { parseImageConfig, type ImageConfig, type RawManifest } from "../oci/manifest.js";
import type { Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import { repositoryName } from "../ref/reference.js";
import { openReferences, openSource } from "../transport/index.js";
import type { ImageSource, TransportOptions } from "../transport/types.js";
import { summariseImage, summariseIndex, type ImageSummary, type IndexSummary, type SummaryContext } from "./summary.js";
import { defined } from "../defined.js";

export { goTime, summariseImage, summariseIndex, SUMMARY_OPTIONAL_FIELDS } from "./summary.js";
export type { ImageSummary, IndexSummary, IndexEntrySummary, LayerData } from "./summary.js";

export interface InspectOptions {
  /** Picks one image of an index (and is required to see an image's fields when the location names an index). */
  platform?: Platform;
  /** List the repository's tags into RepoTags (registry locations only, as skopeo). Default true. */
  tags?: boolean;
  transport?: TransportOptions;
  signal?: AbortSignal;
}

function where(loc: Location): string {
  return formatLocation(loc);
}

function signalOf(opts: InspectOptions): { signal?: AbortSignal } {
  return opts.signal ? { signal: opts.signal } : {};
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
    return readSmallBlob(source, manifest.config, signalOf(opts));
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
      ...defined({ name }),
    });
    if (resolved.parsed.kind === "index") return summariseIndex(context(await tagsPending), resolved.parsed);
    const [tags, configBytes] = await Promise.all([tagsPending, readSmallBlob(source, resolved.parsed.config, signalOf(opts))]);
    return summariseImage(context(tags), resolved.parsed, parseImageConfig(configBytes, where(loc)));
  });
}

/** The manifest digest of a location (of the chosen platform's image with `platform`). */
export async function manifestDigest(loc: Location, opts: InspectOptions = {}): Promise<RawManifest> {
  return inspectRaw(loc, opts);
}
