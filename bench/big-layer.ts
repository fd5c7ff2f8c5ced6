// The large single-layer image, built and pushed as streams: a gzipped tar
// holding one file of SIZE incompressible bytes (AES-CTR keystream) is
// written to a file while both digests are computed, then uploaded to the
// registry monolithically from that file. Memory stays at a few MiB whatever
// the size (the test fixtures build layers in memory, fine for MBs, not GBs).
import { createCipheriv, createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { request } from "node:http";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { Digest } from "../src/oci/digest.js";
import { MediaType } from "../src/oci/mediatype.js";
import { TestRegistryClient, type RegistryTarget } from "../test/helpers/http.js";

export interface BigImage {
  /** The gzipped layer on disk. */
  layerFile: string;
  layerDigest: Digest;
  layerSize: number;
  manifestDigest: Digest;
}

const CHUNK = 1 << 20;
const BLOCK = 512;

/** `size` deterministic random bytes, produced a MiB at a time. */
function randomStream(seed: string, size: number): Readable {
  const key = createHash("sha256").update(`key:${seed}`).digest().subarray(0, 16);
  const iv = createHash("sha256").update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, iv);
  const zeros = Buffer.alloc(CHUNK);
  let left = size;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, CHUNK);
      left -= n;
      this.push(cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n)));
    },
  });
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** A POSIX ustar header for one regular file (sizes up to 8 GiB fit the 11 octal digits). */
export function ustarHeader(name: string, size: number, mtimeSec: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  h.write(octal(0o644, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(mtimeSec, 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum counts as spaces while summing
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("root", 265, "ascii");
  h.write("root", 297, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

/** The tar of one file: header, content, padding, end-of-archive blocks. */
async function* tarOne(name: string, content: Readable, size: number): AsyncGenerator<Buffer> {
  yield ustarHeader(name, size, Date.UTC(2024, 0, 1) / 1000);
  for await (const chunk of content) yield chunk as Buffer;
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  yield Buffer.alloc(pad + 2 * BLOCK);
}

/** Passes bytes through while hashing and counting them. */
function tap(hash: Hash, counter: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      counter.n += chunk.length;
      cb(null, chunk);
    },
  });
}

/** Writes the gzipped layer to `file`; resolves to its digest and size and the tar's digest (the diffID). */
export async function writeBigLayer(
  file: string,
  sizeBytes: number,
  seed: string,
  name = "big/random.bin",
): Promise<{ digest: Digest; size: number; diffId: Digest }> {
  const tarHash = createHash("sha256");
  const gzHash = createHash("sha256");
  const tarCount = { n: 0 };
  const gzCount = { n: 0 };
  await pipeline(
    Readable.from(tarOne(name, randomStream(seed, sizeBytes), sizeBytes)),
    tap(tarHash, tarCount),
    // Level 1: the content is incompressible either way; this keeps set-up short.
    createGzip({ level: 1 }),
    tap(gzHash, gzCount),
    createWriteStream(file),
  );
  return {
    digest: Digest.parse(`sha256:${gzHash.digest("hex")}`),
    size: gzCount.n,
    diffId: Digest.parse(`sha256:${tarHash.digest("hex")}`),
  };
}

/** POST an upload, then PUT the file as its body (streamed, with Content-Length). */
async function pushBlobFromFile(registryUrl: string, repo: string, digest: Digest, file: string): Promise<void> {
  const client = new TestRegistryClient({ url: registryUrl });
  let location: string;
  try {
    const start = await client.request(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    if (start.status !== 202) throw new Error(`POST upload for ${repo}: ${start.status}`);
    location = start.headers.get("location") ?? "";
    if (!location) throw new Error("upload start without Location");
  } finally {
    await client.close();
  }
  const url = new URL(location, registryUrl);
  url.searchParams.set("digest", digest.toString());
  const { size } = await stat(file);
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { method: "PUT", headers: { "content-type": "application/octet-stream", "content-length": size } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 201 ? resolve() : reject(new Error(`PUT ${digest.toString()}: ${res.statusCode}`))));
    });
    req.on("error", reject);
    createReadStream(file, { highWaterMark: CHUNK }).on("error", reject).pipe(req);
  });
}

/** Builds the one-layer OCI image in `file` and pushes it to `repo:tag`. */
export async function pushBigImage(
  registry: RegistryTarget,
  repo: string,
  tag: string,
  file: string,
  sizeBytes: number,
): Promise<BigImage> {
  const layer = await writeBigLayer(file, sizeBytes, "dray-bench/big");
  await pushBlobFromFile(registry.url, repo, layer.digest, file);
  const configDoc = {
    created: "2024-01-01T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: [layer.diffId.toString()] },
    history: [{ created: "2024-01-01T00:00:00Z", created_by: "dray bench: one big random file" }],
  };
  const config = Buffer.from(JSON.stringify(configDoc));
  const configDigest = Digest.of(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, size: config.length, digest: configDigest.toString() },
      layers: [{ mediaType: MediaType.OciLayerGzip, size: layer.size, digest: layer.digest.toString() }],
    }),
  );
  const client = new TestRegistryClient(registry);
  try {
    await client.pushBlob(repo, configDigest.toString(), config);
    await client.putManifest(repo, tag, MediaType.OciManifest, manifest);
  } finally {
    await client.close();
  }
  return { layerFile: file, layerDigest: layer.digest, layerSize: layer.size, manifestDigest: Digest.of(manifest) };
}
