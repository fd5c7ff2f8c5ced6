import type { DestinationCapabilities } from "./types.js";

/**
 * An OCI store keeps what it is given, byte for byte: indexes, compressed
 * layers, digests; blobs may arrive in parallel. OCI layouts and oci-archives
 * are exactly this; a registry adds cross-repository mounts; docker-archive is
 * the one destination that differs (docker-destination.ts).
 */
export const OCI_STORE_CAPABILITIES: Readonly<DestinationCapabilities> = {
  needsUncompressedLayers: false,
  acceptsIndex: true,
  preservesDigests: true,
  supportsMount: false,
  concurrentPutBlob: true,
  keepsForeignLayers: true,
};
