import type { Digest } from "../oci/digest.js";
import { MediaType } from "../oci/mediatype.js";
import type { ImageConfig, ImageIndex, ImageManifest } from "../oci/manifest.js";
import type { Platform } from "../oci/platform.js";

/**
 * The JSON summary of `dray inspect`, shaped like `skopeo inspect` (1.9 and
 * later): same field names, order, and the same null-versus-missing rules,
 * so `skopeo inspect … | jq` scripts keep working:
 *   - Name only where the location has a docker name (omitempty in skopeo);
 *   - RepoTags always an array (empty unless the repository's tags were listed);
 *   - Labels and Env are null when the config lacks them, and so is Created
 *     for an OCI image (a Docker one shows Go's zero time, as skopeo does);
 *   - DockerVersion, Architecture and Os are "" when the config lacks them;
 *   - LayersData[].Annotations is null when a layer has none.
 * `Variant` is dray's addition (containers/image knows it, skopeo does not
 * print it); it appears only when the config has one.
 */
/** The summary fields that are left out when empty (the `?` ones below): a template reads them as empty, not unknown. */
export const SUMMARY_OPTIONAL_FIELDS: readonly string[] = ["Name", "Variant", "Annotations"];

export interface LayerData {
  MIMEType: string;
  Digest: string;
  Size: number;
  Annotations: Record<string, string> | null;
}

export interface ImageSummary {
  Name?: string;
  Digest: string;
  RepoTags: string[];
  Created: string | null;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  Layers: string[];
  LayersData: LayerData[];
  Env: string[] | null;
}

/** An OCI platform under the JSON key rule (README, "Output formats"): `os.version` is `OsVersion`. */
export interface PlatformSummary {
  Os: string;
  Architecture: string;
  Variant?: string;
  OsVersion?: string;
  OsFeatures?: string[];
}

function platformSummary(p: Platform): PlatformSummary {
  const out: PlatformSummary = { Os: p.os, Architecture: p.architecture };
  if (p.variant !== undefined) out.Variant = p.variant;
  if (p["os.version"] !== undefined) out.OsVersion = p["os.version"];
  if (p["os.features"] !== undefined) out.OsFeatures = p["os.features"];
  return out;
}

export interface IndexEntrySummary {
  Digest: string;
  MediaType: string;
  Size: number;
  /** The entry's platform as the index states it (capitalised like every key: `Os`, `Architecture`), null when it states none. */
  Platform: PlatformSummary | null;
  Annotations?: Record<string, string>;
}

/** An index (manifest list) summarised as itself, not as one of its images. */
export interface IndexSummary {
  Name?: string;
  Digest: string;
  RepoTags: string[];
  MediaType: string;
  Manifests: IndexEntrySummary[];
  Annotations?: Record<string, string>;
}

export interface SummaryContext {
  /** Repository name (`domain/path`) for registry locations and named archives. */
  name?: string;
  /** Digest of the manifest the location names (the index, when one was chosen from). */
  digest: Digest;
  repoTags: string[];
}

/** Go's json.Marshal sorts map keys; do the same so output is stable and diffable against skopeo. */
function sortedMap(m: Record<string, string> | null | undefined): Record<string, string> | null {
  if (m === null || m === undefined) return null;
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k]!;
  return out;
}

/**
 * A timestamp as Go's time.Time marshals it (RFC 3339 with the fraction's
 * trailing zeros dropped and `Z` for UTC), which is what skopeo prints after
 * parsing the config's `created`. Text that is not RFC 3339 is returned as is.
 */
export function goTime(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return text;
  const [, date, time, fraction, zone] = m as unknown as [string, string, string, string | undefined, string];
  const frac = (fraction ?? "").slice(0, 9).replace(/0+$/, "");
  const z = zone === "z" || zone === "Z" || zone === "+00:00" || zone === "-00:00" ? "Z" : zone;
  return `${date}T${time}${frac === "" ? "" : `.${frac}`}${z}`;
}

/** Go's zero time.Time, which skopeo prints for a Docker schema 2 image whose config has no `created`. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/**
 * skopeo parses a Docker schema 2 config into a struct whose `created` is a
 * plain time (never nil), and an OCI config into one whose `created` is a
 * pointer: a missing date is the zero time for the first and null for the second.
 */
function created(manifest: ImageManifest, config: ImageConfig): string | null {
  if (typeof config.created === "string") return goTime(config.created);
  return manifest.mediaType === MediaType.DockerManifest ? GO_ZERO_TIME : null;
}

export function summariseImage(ctx: SummaryContext, manifest: ImageManifest, config: ImageConfig): ImageSummary {
  const inner = config.config ?? {};
  const summary: ImageSummary = {
    Digest: ctx.digest.toString(),
    RepoTags: ctx.repoTags,
    Created: created(manifest, config),
    DockerVersion: typeof config.docker_version === "string" ? config.docker_version : "",
    Labels: sortedMap(inner.Labels),
    Architecture: config.architecture ?? "",
    Os: config.os ?? "",
    Layers: manifest.layers.map((l) => l.digest.toString()),
    LayersData: manifest.layers.map((l) => ({
      MIMEType: l.mediaType,
      Digest: l.digest.toString(),
      Size: l.size,
      Annotations: sortedMap(l.annotations),
    })),
    Env: Array.isArray(inner.Env) ? inner.Env : null,
  };
  const ordered: ImageSummary = ctx.name === undefined ? summary : { Name: ctx.name, ...summary };
  return typeof config.variant === "string" && config.variant !== "" ? withVariant(ordered, config.variant) : ordered;
}

/** Puts Variant right after Architecture, where containers/image has it. */
function withVariant(s: ImageSummary, variant: string): ImageSummary {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    out[k] = v;
    if (k === "Architecture") out.Variant = variant;
  }
  return out as unknown as ImageSummary;
}

export function summariseIndex(ctx: SummaryContext, index: ImageIndex): IndexSummary {
  const summary: IndexSummary = {
    Digest: ctx.digest.toString(),
    RepoTags: ctx.repoTags,
    MediaType: index.mediaType,
    Manifests: index.manifests.map((d) => {
      const entry: IndexEntrySummary = {
        Digest: d.digest.toString(),
        MediaType: d.mediaType,
        Size: d.size,
        Platform: d.platform ? platformSummary(d.platform) : null,
      };
      if (d.annotations) entry.Annotations = sortedMap(d.annotations)!;
      return entry;
    }),
  };
  if (index.annotations) summary.Annotations = sortedMap(index.annotations)!;
  return ctx.name === undefined ? summary : { Name: ctx.name, ...summary };
}
