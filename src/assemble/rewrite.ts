// Rewriting the images a location names, the part `mutate` and `append`
// share: each chosen platform image gets its manifest and config edited as
// JSON documents (every field they had is kept), new digests follow up the
// tree, and the index is rebuilt around them. Untouched images, layers and
// configs keep their bytes and digests.
import { NotFoundError, UsageError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import { parseRawManifest, rawManifestFromDocument, type Descriptor, type ImageManifest, type RawManifest } from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import { formatPlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";
import { ATTESTATION_FOR, attestedDigest, platformFromConfig, readConfigDocument, readTop } from "./read.js";
import { ComposedSource, readChild, routeTree } from "./source.js";

type Doc = Record<string, unknown>;

/** One platform image as the edit sees it: its documents, changed in place. */
export interface ImageDocs {
  manifest: Doc;
  config: Doc;
  /** The manifest's media type (Docker or OCI family: which layer types and fields it may have). */
  mediaType: string;
  platform: Platform | undefined;
  /** True when the image is a platform of an index (false: the location's own image). */
  inIndex: boolean;
}

export interface Rewrite {
  /** Changes one image's manifest and config documents in place. */
  image(docs: ImageDocs): void;
  /** Changes the index document in place (its annotations); only called for an index. */
  index?(doc: Doc): void;
}

/** One manifest's digest before and after. */
export interface ManifestChange {
  /** `os/arch[/variant]`, `index` for the index, null for an image without a platform. */
  platform: string | null;
  from: string;
  to: string;
}

export interface Rewritten {
  composed: ComposedSource;
  top: RawManifest;
  previous: RawManifest;
  changes: ManifestChange[];
}

/**
 * Applies `rewrite` to the image `source` names (each platform image of an
 * index, or those of `platforms`), returning a composed source that serves
 * the new tree. `name` says which location the result is written to, for messages.
 */
export async function rewriteImages(
  source: ImageSource,
  name: Location,
  platforms: readonly Platform[],
  rewrite: Rewrite,
  signal?: AbortSignal,
): Promise<Rewritten> {
  const where = formatLocation(source.location);
  const { raw: previous, parsed } = await readTop(source, signal);
  const composed = new ComposedSource(name, previous);
  await routeTree(composed, source, previous, where, signal);
  if (parsed.kind === "manifest") {
    const platform = await platformFromConfig(source, parsed, signal);
    checkWanted(platforms, platform ? [platform] : [], where);
    const raw = await rewriteOne(composed, source, previous, parsed, { platform, inIndex: false }, rewrite, signal);
    composed.setTop(raw);
    return {
      composed,
      top: raw,
      previous,
      changes: [{ platform: platform ? formatPlatform(platform) : null, from: previous.digest.toString(), to: raw.digest.toString() }],
    };
  }
  const doc = JSON.parse(previous.bytes.toString("utf8")) as Doc & { manifests: Doc[] };
  const changes: ManifestChange[] = [];
  const offered: Platform[] = [];
  const renamed = new Map<string, Descriptor>();
  await Promise.all(
    parsed.manifests.map(async (entry, i) => {
      if (attestedDigest(entry) !== undefined) return;
      const raw = await readChild(source, entry, where, signal);
      const child = parseRawManifest(raw, where);
      if (child.kind !== "manifest" || !isImage(child)) return;
      const platform = entry.platform ?? (await platformFromConfig(source, child, signal));
      if (platform) offered.push(platform);
      if (platforms.length > 0 && !platforms.some((p) => platformMatches(p, platform))) return;
      const fresh = await rewriteOne(composed, source, raw, child, { platform, inIndex: true }, rewrite, signal);
      const label = platform ? formatPlatform(platform) : null;
      changes[i] = { platform: label, from: raw.digest.toString(), to: fresh.digest.toString() };
      renamed.set(entry.digest.toString(), { ...entry, digest: fresh.digest, size: fresh.bytes.length });
      const json = doc.manifests[i]!;
      json.digest = fresh.digest.toString();
      json.size = fresh.bytes.length;
      json.mediaType = fresh.mediaType;
    }),
  );
  checkWanted(platforms, offered, where);
  // An attestation names the image it describes by digest: it follows the image to its new one.
  for (const json of doc.manifests) {
    const annotations = json.annotations as Record<string, string> | undefined;
    const was = annotations?.[ATTESTATION_FOR];
    const now = was === undefined ? undefined : renamed.get(was);
    if (annotations && now) annotations[ATTESTATION_FOR] = now.digest.toString();
  }
  rewrite.index?.(doc);
  const same = JSON.stringify(doc) === JSON.stringify(JSON.parse(previous.bytes.toString("utf8")));
  const top = same ? previous : rawManifestFromDocument(doc, parsed.mediaType);
  composed.setTop(top);
  const list = changes.filter((c): c is ManifestChange => c !== undefined);
  list.push({ platform: "index", from: previous.digest.toString(), to: top.digest.toString() });
  return { composed, top, previous, changes: list };
}

function isImage(m: ImageManifest): boolean {
  return m.config.mediaType === MediaType.OciConfig || m.config.mediaType === MediaType.DockerConfig;
}

function checkWanted(wanted: readonly Platform[], offered: readonly Platform[], where: string): void {
  for (const p of wanted) {
    if (!offered.some((o) => platformMatches(p, o))) {
      const list = offered.map(formatPlatform).join(", ") || "none";
      throw new NotFoundError(`platform ${formatPlatform(p)} not found in ${where} (available: ${list})`, {
        code: "E_PLATFORM_NOT_FOUND",
        where,
      });
    }
  }
}

/** One image rewritten: a new config blob when it changed, a new manifest when anything did. */
async function rewriteOne(
  composed: ComposedSource,
  source: ImageSource,
  raw: RawManifest,
  manifest: ImageManifest,
  at: Pick<ImageDocs, "platform" | "inIndex">,
  rewrite: Rewrite,
  signal?: AbortSignal,
): Promise<RawManifest> {
  if (!isImage(manifest))
    throw new UsageError(`${formatLocation(source.location)} is an artifact (config ${manifest.config.mediaType}), not an image`);
  const config = await readConfigDocument(source, manifest, signal);
  const before = JSON.stringify(config);
  const doc = JSON.parse(raw.bytes.toString("utf8")) as Doc;
  rewrite.image({ manifest: doc, config, mediaType: manifest.mediaType, ...at });
  if (JSON.stringify(config) !== before) {
    const bytes = Buffer.from(JSON.stringify(config));
    const digest = Digest.of(bytes);
    composed.addBlob(digest, bytes);
    doc.config = { ...(doc.config as Doc), digest: digest.toString(), size: bytes.length };
  }
  if (JSON.stringify(doc) === JSON.stringify(JSON.parse(raw.bytes.toString("utf8")))) return raw; // nothing changed: bytes kept
  const fresh = rawManifestFromDocument(doc, manifest.mediaType);
  composed.addManifest(fresh);
  return fresh;
}
