// What the assembling commands read of an image: its top manifest, the
// children an index offers (with the platform each runs on, from its config
// when the index entry does not say), and image configs as JSON objects that
// keep every field they had.
import { MAX_INDEX_ENTRIES } from "../copy/engine.js";
import { IntegrityError } from "../errors.js";
import { readSmallBlob } from "../image/read.js";
import {
  configPlatform,
  descriptorOf,
  parseImageConfig,
  parseRawManifest,
  type Descriptor,
  type ImageManifest,
  type RawManifest,
} from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import type { Platform } from "../oci/platform.js";
import { formatLocation } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";
import { readChild } from "./source.js";

/** One manifest an index will list, and where its content is read from. */
export interface Child {
  descriptor: Descriptor;
  source: ImageSource;
  raw: RawManifest;
}

/** A buildx attestation manifest: it rides along with the image it describes (`vnd.docker.reference.digest`). */
export const ATTESTATION_FOR = "vnd.docker.reference.digest";

export function attestedDigest(d: Descriptor): string | undefined {
  return d.annotations?.[ATTESTATION_FOR];
}

/** True for an image config (not an artifact's config, whose platform means nothing). */
function isImageConfig(d: Descriptor): boolean {
  return d.mediaType === MediaType.OciConfig || d.mediaType === MediaType.DockerConfig;
}

/** An image config parsed as a plain object: every field kept for rewriting. */
export async function readConfigDocument(
  source: ImageSource,
  manifest: ImageManifest,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  const where = formatLocation(source.location);
  const bytes = await readSmallBlob(source, manifest.config, signal ? { signal } : {});
  return parseImageConfig(bytes, `${where} config ${manifest.config.digest}`);
}

/** The platform an image manifest's config names (undefined for an artifact or a config without os/architecture). */
export async function platformFromConfig(
  source: ImageSource,
  manifest: ImageManifest,
  signal?: AbortSignal,
): Promise<Platform | undefined> {
  if (!isImageConfig(manifest.config)) return undefined;
  const where = formatLocation(source.location);
  const config = parseImageConfig(await readSmallBlob(source, manifest.config, signal ? { signal } : {}), where);
  return configPlatform(config);
}

/**
 * The children `source` contributes to an index: an index's entries (each
 * read, digest-checked), or the image itself. Each gets a platform: the
 * entry's own, else its config's. Entries are in the source's order.
 */
export async function childrenOf(source: ImageSource, signal?: AbortSignal): Promise<Child[]> {
  const where = formatLocation(source.location);
  const top = await source.getManifest(undefined, signal ? { signal } : {});
  const parsed = parseRawManifest(top, where);
  const typed: RawManifest = { ...top, mediaType: parsed.mediaType };
  if (parsed.kind === "manifest") {
    const platform = await platformFromConfig(source, parsed, signal);
    const descriptor = descriptorOf(typed, platform ? { platform } : {});
    if (parsed.artifactType !== undefined) descriptor.artifactType = parsed.artifactType;
    return [{ descriptor, source, raw: typed }];
  }
  // The copy engine's caps (engine.ts): a hostile index within the manifest
  // size cap lists ~15 000 entries, each read at once without them.
  if (parsed.manifests.length > MAX_INDEX_ENTRIES) {
    throw new IntegrityError(
      `index ${top.digest} at ${where} lists ${parsed.manifests.length} manifests, more than the ${MAX_INDEX_ENTRIES} dray accepts in one index`,
      { code: "E_TOO_LARGE", where },
    );
  }
  // A child named again is read once (its config too, for the platform).
  const read = new Map<string, Promise<{ raw: RawManifest; platform: Platform | undefined }>>();
  return Promise.all(
    parsed.manifests.map(async (entry) => {
      const key = `${entry.digest.toString()} ${entry.size} ${entry.platform ? "" : "config"}`;
      let got = read.get(key);
      if (got === undefined) {
        got = readChild(source, entry, where, signal).then(async (raw) => {
          const child = parseRawManifest(raw, where);
          if (entry.platform || child.kind !== "manifest") return { raw, platform: undefined };
          return { raw, platform: await platformFromConfig(source, child, signal) };
        });
        got.catch(() => undefined); // awaited below; a second entry sees the same failure
        read.set(key, got);
      }
      const { raw, platform } = await got;
      return { descriptor: platform ? { ...entry, platform } : entry, source, raw: { ...raw, mediaType: entry.mediaType } };
    }),
  );
}

/** The manifest `source`'s location names, parsed, refusing anything but an image manifest or index. */
export async function readTop(
  source: ImageSource,
  signal?: AbortSignal,
): Promise<{ raw: RawManifest; parsed: ReturnType<typeof parseRawManifest> }> {
  const where = formatLocation(source.location);
  const raw = await source.getManifest(undefined, signal ? { signal } : {});
  const parsed = parseRawManifest(raw, where);
  return { raw: { ...raw, mediaType: parsed.mediaType }, parsed };
}

/** The diff_ids of a config, one per layer of `manifest`, or an integrity error. */
export function diffIdsOf(config: Record<string, unknown>, manifest: ImageManifest, where: string): string[] {
  const rootfs = config.rootfs as { diff_ids?: string[] } | undefined;
  const ids = rootfs?.diff_ids ?? [];
  if (ids.length !== manifest.layers.length) {
    throw new IntegrityError(
      `config ${manifest.config.digest} lists ${ids.length} diff_ids for ${manifest.layers.length} layers at ${where}`,
      {
        code: "E_MANIFEST_INVALID",
        where,
      },
    );
  }
  return ids;
}
