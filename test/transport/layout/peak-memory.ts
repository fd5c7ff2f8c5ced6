// One-off measurement, not a unit test: peak RSS of writing (and reading
// back) one layer of SIZE MiB through the layout transport.
//   node --import tsx test/transport/layout/peak-memory.ts DIR SIZE_MB
// Prints one JSON line. The layer is a deterministic stream generated on the
// fly (never held in memory), hashed once up front to know its digest.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Digest, VerifyingStream } from "../../../src/oci/digest.js";
import { rawManifestFromDocument } from "../../../src/oci/manifest.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import { openLayoutDestination, openLayoutSource } from "../../../src/transport/layout/index.js";
import { seededBytes } from "../../helpers/fixtures.js";

const CHUNK = 1024 * 1024;
const base = seededBytes("peak-memory", CHUNK);

function layerStream(mib: number): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i === mib) {
        this.push(null);
        return;
      }
      const chunk = Buffer.from(base);
      chunk.writeUInt32BE(i++, 0); // every MiB differs
      this.push(chunk);
    },
  });
}

async function main(): Promise<void> {
  const [dir, sizeText] = process.argv.slice(2);
  if (!dir || !sizeText) throw new Error("usage: peak-memory DIR SIZE_MB");
  const mib = Number(sizeText);
  const hash = createHash("sha256");
  for await (const c of layerStream(mib)) hash.update(c as Buffer);
  const layer = { mediaType: MediaType.OciLayer, digest: Digest.parse(`sha256:${hash.digest("hex")}`), size: mib * CHUNK };
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.digest.toString()] } }),
  );
  const config = { mediaType: MediaType.OciConfig, digest: Digest.of(configBytes), size: configBytes.length };
  const manifest = rawManifestFromDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { ...config, digest: config.digest.toString() },
      layers: [{ ...layer, digest: layer.digest.toString() }],
    },
    MediaType.OciManifest,
  );
  const rssBefore = process.resourceUsage().maxRSS;

  const t0 = Date.now();
  const dest = await openLayoutDestination({ transport: "oci", path: dir, ref: { kind: "tag", tag: "big" } }, {});
  await dest.putBlob(config, Readable.from([configBytes]));
  await dest.putBlob(layer, layerStream(mib));
  await dest.putManifest(manifest, { isTop: true });
  await dest.commit();
  const writeSeconds = (Date.now() - t0) / 1000;
  const rssAfterWrite = process.resourceUsage().maxRSS;

  const t1 = Date.now();
  const src = await openLayoutSource({ transport: "oci", path: dir, ref: { kind: "tag", tag: "big" } }, {});
  const m = await src.getManifest();
  if (!m.digest.equals(manifest.digest)) throw new Error("manifest digest differs");
  const verify = new VerifyingStream({ digest: layer.digest, size: layer.size });
  await pipeline(await src.getBlob(layer), verify, async function (chunks: AsyncIterable<Buffer>) {
    for await (const _ of chunks) {
      // drain
    }
  });
  const readSeconds = (Date.now() - t1) / 1000;
  const rssAfterRead = process.resourceUsage().maxRSS;
  process.stdout.write(
    `${JSON.stringify({ layerMiB: mib, maxRssKiB: { beforeWrite: rssBefore, afterWrite: rssAfterWrite, afterRead: rssAfterRead }, writeSeconds, readSeconds })}\n`,
  );
}

await main();
