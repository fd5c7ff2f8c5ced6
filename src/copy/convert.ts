// Manifest format conversion (OCI ↔ Docker schema 2): manifests and indexes
// are rewritten with the other family's media types; configs and layers keep
// their bytes (a config's media type changes, not its content, so diff_ids
// stay). The new documents get new digests, which is why a converted image
// is printed under its new digest and its old referrers are left behind.
import { UnsupportedError } from "../errors.js";
import {
  descriptorToJSON,
  parseRawManifest,
  rawManifestFromDocument,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type RawManifest,
} from "../oci/manifest.js";
import { MediaType, layerCompression, type LayerCompression } from "../oci/mediatype.js";
import type { NewLayer } from "./recompress.js";

export type ManifestFormat = "oci" | "docker";

/** A manifest of the graph with its children: an image, or an index over more nodes (the engine's tree). */
export type Node = { kind: "manifest"; raw: RawManifest; manifest: ImageManifest } | { kind: "index"; raw: RawManifest; children: Node[] };

/** Layer media types of one family by compression; foreign / non-distributable layers map to their counterpart. */
function layerType(desc: Descriptor, format: ManifestFormat, where: string, recompressed?: LayerCompression): string {
  const compression = recompressed ?? layerCompression(desc.mediaType);
  if (compression === undefined) return desc.mediaType; // not a layer dray knows: left as is
  const foreign = desc.mediaType === MediaType.DockerForeignLayerGzip || desc.mediaType.includes(".nondistributable.");
  if (format === "oci") {
    if (foreign)
      return {
        none: MediaType.OciLayerNondistributable,
        gzip: MediaType.OciLayerNondistributableGzip,
        zstd: MediaType.OciLayerNondistributableZstd,
      }[compression];
    return { none: MediaType.OciLayer, gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd }[compression];
  }
  if (compression === "zstd") {
    throw new UnsupportedError(`layer ${desc.digest} is zstd, which Docker's manifest format cannot describe (${where})`, { where });
  }
  if (foreign && compression === "gzip") return MediaType.DockerForeignLayerGzip;
  return compression === "gzip" ? MediaType.DockerLayerGzip : MediaType.DockerLayer;
}

function configType(desc: Descriptor, format: ManifestFormat): string {
  const isImageConfig = desc.mediaType === MediaType.OciConfig || desc.mediaType === MediaType.DockerConfig;
  if (!isImageConfig) return desc.mediaType; // an artifact's config: its type is its meaning
  return format === "oci" ? MediaType.OciConfig : MediaType.DockerConfig;
}

/** The descriptor as JSON with a new media type; Docker's schema has no annotations or artifactType. */
function retyped(desc: Descriptor, mediaType: string, format: ManifestFormat): Record<string, unknown> {
  const d: Descriptor = { ...desc, mediaType };
  if (format === "docker") {
    delete d.annotations;
    delete d.artifactType;
  }
  return descriptorToJSON(d);
}

/** Layers recompressed on the way, by source digest. */
export type Replacements = ReadonlyMap<string, NewLayer>;

function layerDescriptor(l: Descriptor, format: ManifestFormat, where: string, replaced: Replacements): Record<string, unknown> {
  const r = replaced.get(l.digest.toString());
  if (!r) return retyped(l, layerType(l, format, where), format);
  const fresh: Descriptor = { ...l, digest: r.digest, size: r.size };
  delete fresh.urls; // recompressed bytes live here, not at a foreign URL
  return retyped(fresh, layerType(l, format, where, r.compression), format);
}

export function convertImage(m: ImageManifest, format: ManifestFormat, where: string, replaced: Replacements = new Map()): RawManifest {
  const mediaType = format === "oci" ? MediaType.OciManifest : MediaType.DockerManifest;
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: retyped(m.config, configType(m.config, format), format),
    layers: m.layers.map((l) => layerDescriptor(l, format, where, replaced)),
  };
  if (format === "oci") {
    if (m.artifactType !== undefined) doc.artifactType = m.artifactType;
    if (m.annotations) doc.annotations = m.annotations;
  }
  return rawManifestFromDocument(doc, mediaType);
}

export function convertIndex(index: ImageIndex, children: readonly RawManifest[], format: ManifestFormat): RawManifest {
  const mediaType = format === "oci" ? MediaType.OciIndex : MediaType.DockerManifestList;
  const manifests = index.manifests.map((d, i) => {
    const child = children[i]!;
    return retyped({ ...d, digest: child.digest, size: child.bytes.length }, child.mediaType, format);
  });
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType, manifests };
  if (format === "oci" && index.annotations) doc.annotations = index.annotations;
  return rawManifestFromDocument(doc, mediaType);
}

/** How a tree is converted: the format asked for (undefined: each manifest's own) and the recompressed layers to swap in. */
export interface TreeConversion {
  format: ManifestFormat | undefined;
  /** The source, for errors. */
  where: string;
  replaced: Replacements;
}

/**
 * The tree in `conversion.format`, with recompressed layers swapped in:
 * manifests rewritten children first; a node with nothing to change keeps its bytes.
 */
export function convertTree(node: Node, conversion: TreeConversion): Node {
  return convertOnce(node, conversion, new Map());
}

/** Converts `node` unless already done: a node named by several indexes (the graph is a DAG) is converted once. */
function convertOnce(node: Node, conversion: TreeConversion, done: Map<string, Node>): Node {
  const key = node.raw.digest.toString();
  const known = done.get(key);
  if (known) return known;
  const converted = convertNode(node, conversion, done);
  done.set(key, converted);
  return converted;
}

function convertNode(node: Node, conversion: TreeConversion, done: Map<string, Node>): Node {
  const { where, replaced } = conversion;
  const format = conversion.format ?? familyOf(node.raw.mediaType);
  if (node.kind === "manifest") {
    const unchanged = node.manifest.layers.every((l) => !replaced.has(l.digest.toString()) && layerType(l, format, where) === l.mediaType);
    if (inFormat(node.raw.mediaType, format) && unchanged) return node;
    const raw = convertImage(node.manifest, format, where, replaced);
    const parsed = parseRawManifest(raw, where);
    return { kind: "manifest", raw, manifest: parsed as ImageManifest };
  }
  const children = node.children.map((c) => convertOnce(c, conversion, done));
  const same = inFormat(node.raw.mediaType, format) && children.every((c, i) => c.raw.digest.equals(node.children[i]!.raw.digest));
  if (same) return node;
  const parsed = parseRawManifest(node.raw, where) as ImageIndex;
  return {
    kind: "index",
    raw: convertIndex(
      parsed,
      children.map((c) => c.raw),
      format,
    ),
    children,
  };
}

function familyOf(mediaType: string): ManifestFormat {
  return mediaType.startsWith("application/vnd.docker.") ? "docker" : "oci";
}

function inFormat(mediaType: string, format: ManifestFormat): boolean {
  return mediaType.startsWith(format === "oci" ? "application/vnd.oci." : "application/vnd.docker.");
}

/** True when any manifest of the tree is Docker-typed (what OCI-only readers cannot open). */
export function hasDockerTypes(node: Node, seen = new Set<string>()): boolean {
  const key = node.raw.digest.toString();
  if (seen.has(key)) return false; // already looked at through another index
  seen.add(key);
  return (
    node.raw.mediaType.startsWith("application/vnd.docker.") ||
    (node.kind === "index" && node.children.some((c) => hasDockerTypes(c, seen)))
  );
}
