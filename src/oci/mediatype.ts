/** Media types dray knows, from the OCI image spec and Docker's image manifest v2 schema 2. */
export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OciManifest, MediaType.DockerManifest];
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
const SCHEMA1_MEDIA_TYPES: readonly string[] = [MediaType.DockerSchema1, MediaType.DockerSchema1Signed];

/** The `Accept` header for manifest requests: every manifest and index type dray can read. */
export const MANIFEST_ACCEPT: string = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].join(", ");

export function isManifestType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mediaType);
}

export function isIndexType(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.includes(mediaType);
}

export function isSchema1Type(mediaType: string): boolean {
  return SCHEMA1_MEDIA_TYPES.includes(mediaType);
}

export type LayerCompression = "none" | "gzip" | "zstd";

/** How a layer's bytes are compressed, judged by its media type; undefined when it is not a known layer type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  switch (mediaType) {
    case MediaType.OciLayer:
    case MediaType.OciLayerNondistributable:
    case MediaType.DockerLayer:
    case MediaType.DockerForeignLayer:
      return "none";
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNondistributableGzip:
    case MediaType.DockerLayerGzip:
    case MediaType.DockerForeignLayerGzip:
      return "gzip";
    case MediaType.OciLayerZstd:
    case MediaType.OciLayerNondistributableZstd:
      return "zstd";
    default:
      return undefined;
  }
}

/** The uncompressed layer type of the same family (OCI or Docker) as `mediaType`. */
export function uncompressedLayerType(mediaType: string): string {
  return mediaType.startsWith("application/vnd.docker.") ? MediaType.DockerLayer : MediaType.OciLayer;
}

/**
 * The layer types a Docker schema 2 manifest may carry: Docker's own tar,
 * tar+gzip and foreign layers. containers/image refuses any other
 * (manifest.SupportedSchema2MediaType), as Docker's format has no zstd and
 * no untyped blob, so dray does too.
 */
export const DOCKER_LAYER_TYPES: readonly string[] = [
  MediaType.DockerLayer,
  MediaType.DockerLayerGzip,
  MediaType.DockerForeignLayer,
  MediaType.DockerForeignLayerGzip,
];
