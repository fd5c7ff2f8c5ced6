import { pipeline, type Readable } from "node:stream";
import { NotFoundError } from "../errors.js";
import { VerifyingStream, type Digest } from "../oci/digest.js";
import { isIndexType, isManifestType } from "../oci/mediatype.js";
import { parseRawManifest, type Descriptor } from "../oci/manifest.js";
import { formatLocation } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";

/** Manifests read while looking for a blob's descriptor; an index of indexes deeper than this is not searched. */
const MAX_SEARCH_DEPTH = 4;

/** What `openVerifiedBlob` returns: the bytes as they arrive, failing on the first wrong byte count or at a wrong digest. */
export interface VerifiedBlob {
  descriptor: Descriptor;
  stream: Readable;
}

/**
 * The descriptor the location's manifest graph gives `digest` (a layer, a
 * config, a child manifest), so its size is known before the first byte and
 * checked as the bytes come. A digest the graph does not name gets size -1
 * (unknown): the digest alone is then verified, as crane blob does.
 */
export async function findDescriptor(source: ImageSource, digest: Digest, signal?: AbortSignal): Promise<Descriptor> {
  const found = await searchGraph(source, undefined, digest, 0, signal);
  return found ?? { mediaType: "application/octet-stream", digest, size: -1 };
}

async function searchGraph(
  source: ImageSource,
  at: Digest | undefined,
  wanted: Digest,
  depth: number,
  signal?: AbortSignal,
): Promise<Descriptor | undefined> {
  const raw = await source.getManifest(at, signal ? { signal } : {});
  if (raw.digest.equals(wanted)) return { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length };
  const parsed = parseRawManifest(raw, formatLocation(source.location));
  if (parsed.kind === "manifest") return [parsed.config, ...parsed.layers].find((d) => d.digest.equals(wanted));
  const child = parsed.manifests.find((d) => d.digest.equals(wanted));
  if (child) return child;
  if (depth >= MAX_SEARCH_DEPTH) return undefined;
  for (const d of parsed.manifests) {
    // Only children the source holds are searched: an index may list platforms a partial copy left out.
    const inner = await searchGraph(source, d.digest, wanted, depth + 1, signal).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (inner) return inner;
  }
  return undefined;
}

/**
 * One blob of the location's repository, layout or archive, verified as it
 * streams: the returned stream errors (E_DIGEST_MISMATCH / E_SIZE_MISMATCH)
 * before it ends when the bytes are not the digest's, so a consumer that
 * commits only after the end never keeps wrong bytes. A manifest digest is
 * served from getManifest (registries keep manifests apart from blobs).
 */
export async function openVerifiedBlob(
  source: ImageSource,
  digest: Digest,
  signal?: AbortSignal,
  /** Sees the descriptor before any byte is fetched; throws to refuse (the CLI refuses a layer on a terminal). */
  admit?: (descriptor: Descriptor) => void,
): Promise<VerifiedBlob> {
  const where = `${formatLocation(source.location)} blob ${digest}`;
  const descriptor = await findDescriptor(source, digest, signal);
  admit?.(descriptor);
  const verify = new VerifyingStream({ digest, ...(descriptor.size >= 0 ? { size: descriptor.size } : {}), where });
  if (isManifestDescriptor(descriptor)) {
    const raw = await source.getManifest(digest, signal ? { signal } : {});
    verify.end(raw.bytes);
    return { descriptor, stream: verify };
  }
  const data = await openBlobOrManifest(source, descriptor, verify, signal);
  if (!data) return { descriptor, stream: verify };
  // pipeline: a consumer that stops (a closed pipe, an interrupt) releases the connection or file too.
  pipeline(data, verify, (err) => {
    if (err) verify.destroy(err);
  });
  return { descriptor, stream: verify };
}

/**
 * A digest the graph does not name may still be a manifest (a referrer, another
 * tag's child): registries serve those only under /manifests/, so a blob that is
 * not found is asked for there before the digest is reported missing.
 */
async function openBlobOrManifest(
  source: ImageSource,
  descriptor: Descriptor,
  verify: VerifyingStream,
  signal?: AbortSignal,
): Promise<Readable | undefined> {
  try {
    return await source.getBlob(descriptor, signal ? { signal } : {});
  } catch (err) {
    if (descriptor.size >= 0 || !(err instanceof NotFoundError)) throw err;
    const raw = await source.getManifest(descriptor.digest, signal ? { signal } : {}).catch((second: unknown) => {
      throw second instanceof NotFoundError ? err : second;
    });
    verify.end(raw.bytes);
    return undefined;
  }
}

function isManifestDescriptor(d: Descriptor): boolean {
  return isIndexType(d.mediaType) || isManifestType(d.mediaType);
}
