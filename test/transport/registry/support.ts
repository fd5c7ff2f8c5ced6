// Helpers shared by the registry transport tests: a minimal copy loop over the
// ImageDestination / ImageSource interfaces (the real engine lives in
// src/copy; these tests exercise the transport alone), and an isolated
// credential environment so no developer's ~/.docker leaks into a test.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Digest, VerifyingStream } from "../../../src/oci/digest.js";
import type { Descriptor, RawManifest } from "../../../src/oci/manifest.js";
import type { ImageDestination, ImageSource } from "../../../src/transport/types.js";
import { blobsOf, imagesOf, type Built, type BuiltBlob } from "../../helpers/fixtures.js";
import { makeTempDir } from "../../helpers/tmp.js";

/** Points HOME, DOCKER_CONFIG, XDG_* and REGISTRY_AUTH_FILE at an empty temporary folder. */
export function isolateCredentials(): string {
  const home = makeTempDir("dray-creds-");
  mkdirSync(join(home, ".docker"), { recursive: true });
  process.env.HOME = home;
  process.env.DOCKER_CONFIG = join(home, ".docker");
  process.env.XDG_CONFIG_HOME = join(home, ".config");
  process.env.XDG_RUNTIME_DIR = join(home, "run");
  delete process.env.REGISTRY_AUTH_FILE;
  return home;
}

export function descOf(b: BuiltBlob): Descriptor {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** Pushes a built image or index through a destination: blobs, children, then the top under `tag`. */
export async function pushBuilt(dest: ImageDestination, built: Built, tag?: string): Promise<void> {
  await Promise.all(
    blobsOf(built).map(async (b) => {
      if (await dest.hasBlob(descOf(b))) return;
      await dest.putBlob(descOf(b), Readable.from([b.bytes]));
    }),
  );
  if (built.kind === "index") for (const img of built.images) await dest.putManifest(img.manifest);
  await dest.putManifest(built.manifest, { ...(tag ? { tag } : {}), isTop: true });
  await dest.commit();
}

/** Reads a blob through a source, verified as the engine would. */
export async function readBlob(src: ImageSource, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = await src.getBlob(desc);
  await pipeline(stream, new VerifyingStream({ digest: desc.digest, size: desc.size }), async function (s: AsyncIterable<Buffer>) {
    for await (const c of s) chunks.push(c);
  });
  return Buffer.concat(chunks);
}

/** Pulls the whole graph back and returns every manifest and blob read, keyed by digest. */
export async function pullAll(src: ImageSource): Promise<{ top: RawManifest; manifests: Map<string, Buffer>; blobs: Map<string, Buffer> }> {
  const top = await src.getManifest();
  const manifests = new Map<string, Buffer>([[top.digest.toString(), top.bytes]]);
  const blobs = new Map<string, Buffer>();
  const doc = JSON.parse(top.bytes.toString()) as { manifests?: Array<{ digest: string }> };
  const images: RawManifest[] = [];
  if (doc.manifests) {
    for (const m of doc.manifests) {
      const child = await src.getManifest(Digest.parse(m.digest));
      manifests.set(child.digest.toString(), child.bytes);
      images.push(child);
    }
  } else images.push(top);
  for (const img of images) {
    const d = JSON.parse(img.bytes.toString()) as { config: RawDesc; layers: RawDesc[] };
    for (const b of [d.config, ...d.layers]) {
      const desc: Descriptor = { mediaType: b.mediaType, digest: Digest.parse(b.digest), size: b.size };
      if (!blobs.has(b.digest)) blobs.set(b.digest, await readBlob(src, desc));
    }
  }
  return { top, manifests, blobs };
}

interface RawDesc {
  mediaType: string;
  digest: string;
  size: number;
}

export { imagesOf };
