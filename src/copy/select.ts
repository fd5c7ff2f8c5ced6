import { UsageError } from "../errors.js";
import type { Descriptor, ImageIndex, RawManifest } from "../oci/manifest.js";
import { rawManifestFromDocument } from "../oci/manifest.js";
import { formatPlatform, hostPlatform, platformMatches, type Platform } from "../oci/platform.js";
import { platformNotFound } from "../image/resolve.js";

/** Which entries of an index a copy takes, and the index the destination receives. */
export interface IndexSelection {
  /** The chosen entries, in the index's own order. */
  entries: Descriptor[];
  /**
   * The index to store: the source's bytes when every entry is taken, else a
   * new index holding just the chosen entries (its digest differs).
   */
  index: RawManifest;
  /** The chosen platforms as `os/arch[/variant]`, when a subset was asked for. */
  platforms?: string[];
}

/** The first entry matching each wanted platform; a platform without one is E_PLATFORM_NOT_FOUND. */
export function matchEntries(index: ImageIndex, wanted: readonly Platform[], where: string): Descriptor[] {
  const chosen = new Set<Descriptor>();
  for (const p of wanted) {
    const entry = index.manifests.find((d) => platformMatches(p, d.platform));
    if (!entry) throw platformNotFound(p, where, { index });
    chosen.add(entry);
  }
  return index.manifests.filter((d) => chosen.has(d));
}

/**
 * The subset of `raw` (parsed as `index`) for `wanted`. The new index keeps
 * every field of the original document (annotations, subject, unknown
 * fields) and the chosen entries' JSON exactly; only `manifests` shrinks.
 */
export function selectPlatforms(raw: RawManifest, index: ImageIndex, wanted: readonly Platform[], where: string): IndexSelection {
  if (wanted.length === 0) return { entries: index.manifests, index: raw };
  const entries = matchEntries(index, wanted, where);
  const platforms = entries.map((d) => formatPlatform(d.platform!));
  if (entries.length === index.manifests.length) return { entries, index: raw, platforms };
  const doc = JSON.parse(raw.bytes.toString("utf8")) as Record<string, unknown> & { manifests: unknown[] };
  const keep = new Set(entries.map((d) => index.manifests.indexOf(d)));
  doc.manifests = doc.manifests.filter((_, i) => keep.has(i));
  return { entries, index: rawManifestFromDocument(doc, index.mediaType), platforms };
}

/** The one entry a single-platform destination (docker-archive) receives, and the notice when the engine chose it. */
export interface SingleChoice {
  entry: Descriptor;
  platform: string;
  notice?: string;
}

/**
 * Picks one platform of an index for a destination that holds one image:
 * the one `--platform` names, else the host's (with a notice saying so).
 * Several platforms are a usage error: the destination cannot hold them.
 */
export function pickSinglePlatform(index: ImageIndex, wanted: readonly Platform[], where: string, destination: string): SingleChoice {
  if (wanted.length > 1) {
    throw new UsageError(`${destination} holds a single platform; give one --platform, not ${wanted.length}`);
  }
  const explicit = wanted.length === 1;
  const platform = explicit ? wanted[0]! : hostPlatform();
  const entry = index.manifests.find((d) => platformMatches(platform, d.platform));
  if (!entry) {
    const hint = explicit ? undefined : `that is this host's platform, and ${destination} holds one: choose one with --platform`;
    throw platformNotFound(platform, where, { index }, hint);
  }
  const name = formatPlatform(entry.platform!);
  if (explicit) return { entry, platform: name };
  return {
    entry,
    platform: name,
    notice: `${destination} holds a single platform: copying ${name} (this host's); use --platform to choose another`,
  };
}
