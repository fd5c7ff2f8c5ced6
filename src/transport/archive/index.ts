// The archive transports: oci-archive (a tar of an OCI image layout) and
// docker-archive (the `docker save` / `docker load` tar). The copy engine's
// dispatcher (src/transport/index.ts) imports exactly these names.
//
// Tar reading and writing use tar-stream (v3): a streaming parser and
// generator and nothing else, so dray decides what touches the disk (nothing
// is ever extracted); its parser reports each entry's byte offset, which the
// random-access index needs; it handles PAX and GNU long names and base-256
// sizes (> 8 GiB layers); it is small and maintained. node-tar is built
// around extracting to and packing from the file system, which dray never does.
import type { DockerArchiveLocation, LayoutLocation } from "../../ref/location.js";
import type { ImageDestination, ImageSource, ReferenceStore, TransportOptions } from "../types.js";
import { DockerArchiveDestination } from "./docker-destination.js";
import { DockerArchiveReferences } from "./docker-references.js";
import { DockerArchiveSource } from "./docker-source.js";
import { openOciArchive } from "./oci-archive.js";
import { OciArchiveDestination } from "./oci-destination.js";
import { OciArchiveReferences } from "./oci-references.js";
import { LayoutSource } from "../layout/source.js";

export async function openOciArchiveSource(loc: LayoutLocation, opts: TransportOptions): Promise<ImageSource> {
  const { blobs, index, cleanup } = await openOciArchive(loc, opts);
  return new LayoutSource(loc, blobs, index, cleanup);
}

export async function openOciArchiveDestination(loc: LayoutLocation, opts: TransportOptions): Promise<ImageDestination> {
  return OciArchiveDestination.open(loc, opts);
}

export async function openOciArchiveReferences(loc: LayoutLocation, opts: TransportOptions): Promise<ReferenceStore> {
  return new OciArchiveReferences(loc, opts);
}

export async function openDockerArchiveSource(loc: DockerArchiveLocation, opts: TransportOptions): Promise<ImageSource> {
  return DockerArchiveSource.open(loc, opts);
}

export async function openDockerArchiveDestination(loc: DockerArchiveLocation, opts: TransportOptions): Promise<ImageDestination> {
  return DockerArchiveDestination.open(loc, opts);
}

export async function openDockerArchiveReferences(loc: DockerArchiveLocation, opts: TransportOptions): Promise<ReferenceStore> {
  return new DockerArchiveReferences(loc, opts);
}

export { decompressionLimit, SizeCap, DiffIdCheck } from "../../oci/decompress.js";
