import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { compressStream } from "../../src/oci/compression.js";
import { streamToBuffer } from "../transport/layout/util.js";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { copyImage } from "../../src/copy/engine.js";
import type { CopyEvent } from "../../src/copy/types.js";
import { DrayError, InterruptedError } from "../../src/errors.js";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { parseManifest, rawManifestFromDocument, descriptorToJSON } from "../../src/oci/manifest.js";
import { hostPlatform, parsePlatform } from "../../src/oci/platform.js";
import {
  DOCKER_ARCHIVE_LIKE,
  MemoryDestination,
  MemorySource,
  REGISTRY_LIKE,
  bytesOf,
  image,
  index,
  layer,
  type TestImage,
} from "./doubles.js";

const AMD64 = { os: "linux", architecture: "amd64" };
const ARM64 = { os: "linux", architecture: "arm64", variant: "v8" };
const ARMV7 = { os: "linux", architecture: "arm", variant: "v7" };

function multiArch(): { images: TestImage[]; shared: ReturnType<typeof layer> } {
  const shared = layer(bytesOf("shared", 50_000));
  const images = [AMD64, ARM64, ARMV7].map((p) =>
    image(p, [shared, layer(bytesOf(`own-${p.architecture}`, 30_000 + p.architecture.length))]),
  );
  return { images, shared };
}

function blobDigests(img: TestImage): string[] {
  return [img.config.desc, ...img.layers.map((l) => l.desc)].map((d) => d.digest.toString());
}

function opIndex(dst: MemoryDestination, pred: (o: MemoryDestination["ops"][number]) => boolean): number {
  const i = dst.ops.findIndex(pred);
  assert.notEqual(i, -1, "operation not found");
  return i;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<DrayError> {
  let caught: unknown;
  await p.catch((err: unknown) => {
    caught = err;
  });
  assert.ok(caught instanceof DrayError, `expected a DrayError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe("copyImage: single image", () => {
  it("stores blobs, then the manifest with its digest unchanged, then commits", async () => {
    const img = image(AMD64, [layer(bytesOf("a", 70_000)), layer(bytesOf("b", 20_000))]);
    const src = new MemorySource(img.manifest, [img]);
    const dst = new MemoryDestination();
    const summary = await copyImage(src, dst);

    assert.equal(summary.digest, img.manifest.digest.toString());
    assert.equal(summary.mediaType, MediaType.OciManifest);
    assert.deepEqual(summary.blobs, { copied: 3, skipped: 0, mounted: 0 });
    assert.equal(summary.manifests, 1);
    assert.equal(summary.bytes, img.config.bytes.length + img.layers.reduce((n, l) => n + l.bytes.length, 0));
    assert.equal(summary.upToDate, false);
    assert.deepEqual(dst.manifests.get(img.manifest.digest.toString())?.bytes, img.manifest.bytes);
    for (const l of img.layers) assert.deepEqual(dst.blobs.get(l.desc.digest.toString()), l.bytes);
    assert.equal(dst.tags.get("(location)"), img.manifest.digest.toString());

    const manifestAt = opIndex(dst, (o) => o.op === "putManifest");
    for (const d of blobDigests(img)) assert.ok(opIndex(dst, (o) => o.op === "putBlob" && o.digest === d) < manifestAt);
    assert.deepEqual(dst.ops.at(-1), { op: "commit" });
    assert.deepEqual(dst.ops[manifestAt], { op: "putManifest", digest: img.manifest.digest.toString(), isTop: true });
  });

  it("emits typed progress events in order, ending with done", async () => {
    const img = image(AMD64, [layer(bytesOf("a", 40_000))]);
    const events: CopyEvent[] = [];
    await copyImage(new MemorySource(img.manifest, [img], { chunk: 8192 }), new MemoryDestination(), { onProgress: (e) => events.push(e) });
    const types = events.map((e) => e.type);
    assert.equal(types[0], "manifest-resolved");
    assert.equal(types[1], "plan");
    assert.equal(types.at(-1), "done");
    const plan = events[1] as Extract<CopyEvent, { type: "plan" }>;
    assert.equal(plan.blobs, 2);
    const layerDigest = img.layers[0]!.desc.digest.toString();
    const bytes = events.filter(
      (e): e is Extract<CopyEvent, { type: "blob-bytes" }> => e.type === "blob-bytes" && e.digest === layerDigest,
    );
    assert.equal(
      bytes.reduce((n, e) => n + e.n, 0),
      img.layers[0]!.bytes.length,
    );
    assert.ok(types.indexOf("blob-start") < types.indexOf("blob-bytes"));
    assert.ok(types.lastIndexOf("blob-done") < types.indexOf("manifest-put"));
  });
});

describe("copyImage: multi-platform index", () => {
  it("copies every child before the index, the index last as top, digests unchanged", async () => {
    const { images } = multiArch();
    const top = index(images);
    const dst = new MemoryDestination();
    const summary = await copyImage(new MemorySource(top, images), dst);

    assert.equal(summary.digest, top.digest.toString());
    assert.equal(summary.manifests, 4);
    const indexAt = opIndex(dst, (o) => o.op === "putManifest" && o.digest === top.digest.toString());
    assert.deepEqual(dst.ops[indexAt], { op: "putManifest", digest: top.digest.toString(), isTop: true });
    assert.equal(indexAt, dst.ops.length - 2, "the index is the last put before commit");
    for (const img of images) {
      const childAt = opIndex(dst, (o) => o.op === "putManifest" && o.digest === img.manifest.digest.toString());
      assert.ok(childAt < indexAt);
      assert.equal((dst.ops[childAt] as { isTop: boolean }).isTop, false);
      for (const d of blobDigests(img)) assert.ok(opIndex(dst, (o) => o.op === "putBlob" && o.digest === d) < childAt);
      assert.deepEqual(dst.manifests.get(img.manifest.digest.toString())?.bytes, img.manifest.bytes);
    }
  });

  it("fetches a blob shared by several manifests once", async () => {
    const { images, shared } = multiArch();
    const src = new MemorySource(index(images), images);
    const dst = new MemoryDestination();
    const summary = await copyImage(src, dst);
    const key = shared.desc.digest.toString();
    assert.equal(src.blobReads.filter((d) => d === key).length, 1);
    assert.equal(dst.hasBlobCalls.filter((d) => d === key).length, 1);
    assert.equal(dst.opsOf("putBlob").filter((o) => (o as { digest: string }).digest === key).length, 1);
    // 3 configs + 3 own layers + 1 shared layer
    assert.deepEqual(summary.blobs, { copied: 7, skipped: 0, mounted: 0 });
  });

  it("skips blobs the destination has, reading nothing of them", async () => {
    const { images, shared } = multiArch();
    const src = new MemorySource(index(images), images);
    const dst = new MemoryDestination();
    dst.preload(shared.desc.digest, shared.bytes);
    dst.preload(images[0]!.config.desc.digest, images[0]!.config.bytes);
    const summary = await copyImage(src, dst);
    assert.deepEqual(summary.blobs, { copied: 5, skipped: 2, mounted: 0 });
    assert.ok(!src.blobReads.includes(shared.desc.digest.toString()));
    assert.ok(!src.blobReads.includes(images[0]!.config.desc.digest.toString()));
  });

  it("mounts what the registry can mount instead of uploading it", async () => {
    const img = image(AMD64, [layer(bytesOf("m1", 30_000)), layer(bytesOf("m2", 30_000))]);
    const src = new MemorySource(img.manifest, [img]);
    const dst = new MemoryDestination({ ...REGISTRY_LIKE, supportsMount: true });
    for (const l of img.layers) dst.mountable.add(l.desc.digest.toString());
    const summary = await copyImage(src, dst);
    assert.deepEqual(summary.blobs, { copied: 1, skipped: 0, mounted: 2 });
    assert.deepEqual(src.blobReads, [img.config.desc.digest.toString()]);
    assert.equal(dst.opsOf("putBlob").length, 1);
  });

  it("finishes at once when the destination's tag already names the digest", async () => {
    const { images } = multiArch();
    const top = index(images);
    const src = new MemorySource(top, images);
    const dst = new MemoryDestination();
    dst.current = top.digest;
    const summary = await copyImage(src, dst);
    assert.equal(summary.upToDate, true);
    assert.equal(summary.digest, top.digest.toString());
    assert.deepEqual(summary.blobs, { copied: 0, skipped: 0, mounted: 0 });
    assert.equal(summary.manifests, 0);
    assert.deepEqual(src.blobReads, []);
    assert.deepEqual(src.manifestReads, [undefined], "only the top manifest was read");
    assert.ok(
      dst.ops.every((o) => o.op === "abort"),
      "nothing written",
    );
  });
});

describe("copyImage: --platform", () => {
  it("writes a new index holding just the asked platforms and reports its digest", async () => {
    const { images } = multiArch();
    const top = index(images, { "org.opencontainers.image.title": "demo" });
    const src = new MemorySource(top, images);
    const dst = new MemoryDestination();
    const summary = await copyImage(src, dst, { platforms: [parsePlatform("linux/arm64"), parsePlatform("linux/amd64")] });

    assert.notEqual(summary.digest, top.digest.toString());
    const stored = dst.manifests.get(summary.digest);
    assert.ok(stored);
    assert.equal(Digest.of(stored.bytes).toString(), summary.digest);
    const parsed = parseManifest(stored.bytes);
    assert.equal(parsed.kind, "index");
    assert.deepEqual(
      parsed.kind === "index" && parsed.manifests.map((d) => d.digest.toString()),
      [images[0]!.manifest.digest.toString(), images[1]!.manifest.digest.toString()],
      "source order kept",
    );
    assert.equal(parsed.annotations?.["org.opencontainers.image.title"], "demo");
    assert.deepEqual(summary.platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert.equal(dst.tags.get("(location)"), summary.digest);
    assert.ok(!dst.manifests.has(images[2]!.manifest.digest.toString()));
    for (const d of blobDigests(images[2]!).slice(0, 1).concat(images[2]!.layers[1]!.desc.digest.toString())) {
      assert.ok(!src.blobReads.includes(d), "the other platform's blobs are not read");
    }
  });

  it("keeps the source index when every entry is asked for", async () => {
    const { images } = multiArch();
    const top = index(images);
    const summary = await copyImage(new MemorySource(top, images), new MemoryDestination(), {
      platforms: [parsePlatform("linux/arm"), parsePlatform("linux/arm64"), parsePlatform("linux/amd64")],
    });
    assert.equal(summary.digest, top.digest.toString());
  });

  it("fails with E_PLATFORM_NOT_FOUND (exit 3) and writes nothing when a platform is missing", async () => {
    const { images } = multiArch();
    const dst = new MemoryDestination();
    const err = await rejectsWith(
      copyImage(new MemorySource(index(images), images), dst, { platforms: [parsePlatform("linux/s390x")] }),
      "E_PLATFORM_NOT_FOUND",
    );
    assert.match(err.message, /linux\/s390x.*available: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/);
    assert.deepEqual(dst.ops, [{ op: "abort" }]);
  });

  it("checks a single image's platform from its config", async () => {
    const img = image(ARM64, [layer(bytesOf("x", 1000))]);
    const ok = await copyImage(new MemorySource(img.manifest, [img]), new MemoryDestination(), {
      platforms: [parsePlatform("linux/arm64")],
    });
    assert.equal(ok.digest, img.manifest.digest.toString());
    const src = new MemorySource(img.manifest, [img]);
    await rejectsWith(copyImage(src, new MemoryDestination(), { platforms: [parsePlatform("linux/amd64")] }), "E_PLATFORM_NOT_FOUND");
    const ok2src = new MemorySource(img.manifest, [img]);
    await copyImage(ok2src, new MemoryDestination(), { platforms: [parsePlatform("linux/arm64")] });
    assert.equal(
      ok2src.blobReads.filter((d) => d === img.config.desc.digest.toString()).length,
      1,
      "the config read for the check is reused",
    );
  });
});

describe("copyImage: a single-platform destination that needs uncompressed layers (docker-archive)", () => {
  it("picks the host platform with a notice, decompresses layers and writes a manifest with real sizes", async () => {
    const host = hostPlatform();
    const other = host.architecture === "amd64" ? ARM64 : AMD64;
    const shared = layer(bytesOf("base", 60_000));
    const hostImg = image(host, [shared, layer(bytesOf("host-own", 10_000))]);
    const otherImg = image(other, [shared, layer(bytesOf("other-own", 10_000))]);
    const events: CopyEvent[] = [];
    const dst = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    const summary = await copyImage(new MemorySource(index([otherImg, hostImg]), [otherImg, hostImg]), dst, {
      onProgress: (e) => events.push(e),
    });

    assert.match(summary.notice ?? "", /single platform: copying linux\/.* \(this host's\)/);
    assert.ok(events.some((e) => e.type === "notice"));
    assert.equal(summary.platforms?.length, 1);
    for (const l of hostImg.layers) {
      const diffId = Digest.of(l.uncompressed).toString();
      assert.deepEqual(dst.blobs.get(diffId), gunzipSync(l.bytes));
      const d = dst.putBlobDescs.find((x) => x.digest.toString() === diffId);
      assert.equal(d?.mediaType, MediaType.OciLayer);
      assert.equal(d?.size, -1);
    }
    assert.deepEqual(dst.blobs.get(hostImg.config.desc.digest.toString()), hostImg.config.bytes);
    const stored = dst.manifests.get(summary.digest);
    assert.ok(stored);
    const m = parseManifest(stored.bytes);
    assert.equal(
      stored.mediaType,
      MediaType.DockerManifest,
      "a docker-archive holds Docker schema 2, as the archive reader regenerates it",
    );
    assert.ok(m.kind === "manifest");
    assert.deepEqual(
      m.layers.map((d) => [d.digest.toString(), d.size, d.mediaType]),
      hostImg.layers.map((l) => [Digest.of(l.uncompressed).toString(), l.uncompressed.length, MediaType.DockerLayer]),
    );
    assert.equal(m.config.digest.toString(), hostImg.config.desc.digest.toString());
    assert.equal(dst.ops.filter((o) => o.op === "putManifest").length, 1);
    assert.equal(dst.maxActivePuts, 1, "a destination without concurrent putBlob gets one at a time");
  });

  it("takes the one --platform given without a notice, and refuses two", async () => {
    const { images } = multiArch();
    const dst = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    const summary = await copyImage(new MemorySource(index(images), images), dst, { platforms: [parsePlatform("linux/arm/v7")] });
    assert.equal(summary.notice, undefined);
    assert.deepEqual(summary.platforms, ["linux/arm/v7"]);
    await rejectsWith(
      copyImage(new MemorySource(index(images), images), new MemoryDestination(DOCKER_ARCHIVE_LIKE), {
        platforms: [parsePlatform("linux/arm/v7"), parsePlatform("linux/amd64")],
      }),
      "E_USAGE",
    );
  });

  it("fails when a layer does not decompress to its diff_id", async () => {
    const good = layer(bytesOf("good", 5000));
    const img = image(AMD64, [good]);
    // Rewrite the config to claim another diff_id.
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [Digest.of("nope").toString()] } }),
    );
    const configDesc = { mediaType: MediaType.OciConfig, digest: Digest.of(config), size: config.length };
    const manifest = rawManifestFromDocument(
      { schemaVersion: 2, mediaType: MediaType.OciManifest, config: descriptorToJSON(configDesc), layers: [descriptorToJSON(good.desc)] },
      MediaType.OciManifest,
    );
    const bad: TestImage = { ...img, manifest, config: { desc: configDesc, bytes: config } };
    const dst = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    await rejectsWith(copyImage(new MemorySource(manifest, [bad]), dst), "E_DIGEST_MISMATCH");
    assert.equal(dst.manifests.size, 0);
    assert.equal(dst.ops.at(-1)?.op, "abort");
  });

  it("runs beforeTag (re-signing) on the manifest it writes, stored by digest first, before the tag", async () => {
    const img = image(AMD64, [layer(bytesOf("before-tag", 20_000))]);
    const dst = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    const hooked: Array<{ digest: string; opsBefore: number }> = [];
    const summary = await copyImage(new MemorySource(img.manifest, [img]), dst, {
      beforeTag: async (raw) => void hooked.push({ digest: raw.digest.toString(), opsBefore: dst.ops.length }),
    });
    assert.deepEqual(
      hooked.map((h) => h.digest),
      [summary.digest],
      "called once, with the uncompressed image's new manifest",
    );
    const puts = dst.ops.filter((o) => o.op === "putManifest");
    assert.deepEqual(
      puts.map((o) => o.isTop),
      [false, true],
      "by digest, then under the tag",
    );
    assert.equal(dst.ops[hooked[0]!.opsBefore - 1]?.op, "putManifest", "the hook ran between the two");
  });

  it("decompresses a zstd layer too (Node's zlib or the npm fallbacks), checked against its diff_id", async () => {
    const tar = bytesOf("z", 100_000);
    const zstd = await streamToBuffer(Readable.from([tar]).pipe(compressStream("zstd", 3) as NodeJS.ReadWriteStream & Readable));
    const zl = { desc: { mediaType: MediaType.OciLayerZstd, digest: Digest.of(zstd), size: zstd.length }, bytes: zstd, uncompressed: tar };
    const img = image(AMD64, [zl]);
    const dst = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    await copyImage(new MemorySource(img.manifest, [img]), dst);
    assert.deepEqual(dst.blobs.get(Digest.of(tar).toString()), tar);
  });
});

describe("copyImage: concurrency, failure and interruption", () => {
  it("keeps at most --jobs blobs in flight, and reaches that many", async () => {
    const img = image(
      AMD64,
      Array.from({ length: 20 }, (_, i) => layer(bytesOf(`j${i}`, 40_000))),
    );
    const src = new MemorySource(img.manifest, [img], { chunk: 4096, delayMs: 2 });
    const dst = new MemoryDestination();
    await copyImage(src, dst, { jobs: 2 });
    assert.equal(dst.maxActivePuts, 2);
    // Without --jobs, small blobs move 16 at once (the byte window's count bound), the config among them.
    const window = new MemoryDestination();
    await copyImage(new MemorySource(img.manifest, [img], { chunk: 4096, delayMs: 2 }), window);
    assert.equal(window.maxActivePuts, 16, "the window's bound for small blobs");
  });

  it("a corrupt blob fails with E_DIGEST_MISMATCH, stops the other transfers and leaves the destination as it was", async () => {
    // A tiny corrupt layer fails at once while five large ones are mid-stream.
    const tiny = layer(bytesOf("tiny", 10));
    const img = image(AMD64, [tiny, ...Array.from({ length: 5 }, (_, i) => layer(bytesOf(`c${i}`, 400_000)))]);
    const src = new MemorySource(img.manifest, [img], { chunk: 4096, delayMs: 2, corrupt: new Set([tiny.desc.digest.toString()]) });
    const dst = new MemoryDestination();
    let read = 0;
    await rejectsWith(copyImage(src, dst, { onProgress: (e) => (read += e.type === "blob-bytes" ? e.n : 0) }), "E_DIGEST_MISMATCH");
    assert.ok(read < 1_000_000, `the other transfers were cut short (${read} of 2000000 bytes read)`);
    assert.equal(dst.blobs.size, 0);
    assert.equal(dst.manifests.size, 0);
    assert.ok(!dst.ops.some((o) => o.op === "putManifest" || o.op === "commit"));
    assert.equal(dst.ops.at(-1)?.op, "abort");
    assert.equal(src.openStreams, 0, "every source stream was released");
  });

  it("an abort in the middle of a transfer throws InterruptedError, aborts the destination and releases streams", async () => {
    const img = image(AMD64, [layer(bytesOf("big", 2_000_000)), layer(bytesOf("big2", 2_000_000))]);
    const controller = new AbortController();
    const src = new MemorySource(img.manifest, [img], {
      chunk: 8192,
      delayMs: 1,
      onFirstChunk: () => setTimeout(() => controller.abort(), 30),
    });
    const dst = new MemoryDestination();
    const err = await copyImage(src, dst, { signal: controller.signal }).catch((e: unknown) => e);
    assert.ok(err instanceof InterruptedError, String(err));
    assert.equal(dst.blobs.size, 0);
    assert.equal(dst.tags.size, 0);
    assert.equal(dst.ops.at(-1)?.op, "abort");
    assert.ok(!dst.ops.some((o) => o.op === "commit"));
    assert.equal(src.openStreams, 0);
  });

  it("an already aborted signal writes nothing", async () => {
    const img = image(AMD64, [layer(bytesOf("q", 100))]);
    const dst = new MemoryDestination();
    const err = await copyImage(new MemorySource(img.manifest, [img]), dst, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    assert.ok(err instanceof InterruptedError);
    assert.deepEqual(dst.ops, [{ op: "abort" }]);
  });

  it("a child manifest whose bytes do not match the index's descriptor is an integrity error", async () => {
    const { images } = multiArch();
    const top = index(images);
    const src = new MemorySource(top, images);
    // Serve another manifest's bytes under the first child's digest.
    src.manifests.set(images[0]!.manifest.digest.toString(), images[1]!.manifest);
    const dst = new MemoryDestination();
    await rejectsWith(copyImage(src, dst), "E_DIGEST_MISMATCH");
    assert.equal(dst.manifests.size, 0);
  });
});

describe("copyImage: the host platform is missing for a single-platform destination", () => {
  it("fails with E_PLATFORM_NOT_FOUND naming the host's platform and --platform", async () => {
    const host = hostPlatform();
    const others = [
      { os: "linux", architecture: "s390x" },
      { os: "linux", architecture: "ppc64le" },
    ].filter((p) => p.architecture !== host.architecture);
    const imgs = others.map((p) => image(p, [layer(bytesOf(p.architecture, 100))]));
    const dst = new MemoryDestination(DOCKER_ARCHIVE_LIKE);
    const err = await rejectsWith(copyImage(new MemorySource(index(imgs), imgs), dst), "E_PLATFORM_NOT_FOUND");
    assert.match(
      err.message,
      /platform linux\/\S+ not found in .*\(available: linux\/s390x, linux\/ppc64le\); that is this host's platform, and .* holds one: choose one with --platform/,
    );
    assert.deepEqual(dst.ops, [{ op: "abort" }]);
  });
});
