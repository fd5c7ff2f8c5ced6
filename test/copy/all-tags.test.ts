import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkAllTagsLocations, copyTags, locationWithTag } from "../../src/copy/all-tags.js";
import { createLimiter } from "../../src/copy/limit.js";
import { DrayError } from "../../src/errors.js";
import { parseLocation, formatLocation } from "../../src/ref/location.js";
import { MemoryDestination, MemorySource, bytesOf, image, index, layer } from "./doubles.js";

describe("copyTags (--all-tags)", () => {
  it("copies every tag into one destination, each shared blob once, committing once", async () => {
    const base = layer(bytesOf("base", 80_000));
    const tags = ["1.0", "1.1", "2.0", "latest", "edge"];
    const images = tags.map((t) => image({ os: "linux", architecture: "amd64" }, [base, layer(bytesOf(`tag-${t}`, 10_000))]));
    const sources: MemorySource[] = [];
    const dst = new MemoryDestination();
    const summary = await copyTags(
      {
        tags,
        dst,
        openSource: async (tag) => {
          const img = images[tags.indexOf(tag)]!;
          const src = new MemorySource(index([img]), [img]);
          sources.push(src);
          return src;
        },
      },
      "docker://localhost:5000/app",
      { jobs: 3 },
    );
    assert.deepEqual(
      summary.tags.map((t) => t.tag),
      [...tags].sort(),
      "sorted, not in the source's order (issue 27, item 14)",
    );
    assert.equal(summary.manifests, tags.length * 2);
    // base once, plus a config and an own layer per tag
    assert.deepEqual(summary.blobs, { copied: 1 + 2 * tags.length, skipped: 0, mounted: 0 });
    const baseReads = sources.flatMap((s) => s.blobReads).filter((d) => d === base.desc.digest.toString());
    assert.equal(baseReads.length, 1);
    for (const t of summary.tags) assert.equal(dst.tags.get(t.tag), t.digest);
    assert.equal(dst.opsOf("commit").length, 1);
    assert.deepEqual(dst.ops.at(-1), { op: "commit" });
    assert.ok(
      sources.every((s) => s.closed === 1),
      "each source closed",
    );
    assert.ok(dst.maxActivePuts <= 3);
  });

  it("one failing tag aborts the whole destination", async () => {
    const good = image({ os: "linux", architecture: "amd64" }, [layer(bytesOf("g", 1000))]);
    const broken = image({ os: "linux", architecture: "amd64" }, [layer(bytesOf("b", 1000))]);
    const dst = new MemoryDestination();
    const err = await copyTags(
      {
        tags: ["good", "broken"],
        dst,
        openSource: async (tag) => {
          if (tag === "good") return new MemorySource(good.manifest, [good]);
          return new MemorySource(broken.manifest, [broken], { corrupt: new Set([broken.layers[0]!.desc.digest.toString()]) });
        },
      },
      "oci:/x",
    ).catch((e: unknown) => e);
    assert.ok(err instanceof DrayError && err.code === "E_DIGEST_MISMATCH", String(err));
    assert.equal(dst.tags.size, 0);
    assert.equal(dst.blobs.size, 0);
    assert.equal(dst.ops.at(-1)?.op, "abort");
  });

  it("locations: a tag replaces the reference; tagged locations are refused", () => {
    assert.equal(formatLocation(locationWithTag(parseLocation("localhost:5000/app"), "v2")), "docker://localhost:5000/app:v2");
    assert.equal(formatLocation(locationWithTag(parseLocation("oci:/tmp/x"), "v2")), "oci:/tmp/x:v2");
    assert.equal(
      formatLocation(locationWithTag(parseLocation("docker-archive:/tmp/a.tar"), "app:v2")),
      "docker-archive:/tmp/a.tar:docker.io/library/app:v2",
    );
    assert.throws(
      () => checkAllTagsLocations(parseLocation("localhost:5000/app:v1"), parseLocation("localhost:5000/b")),
      (e: unknown) => e instanceof DrayError && e.code === "E_USAGE",
    );
    assert.throws(
      () => checkAllTagsLocations(parseLocation("localhost:5000/app"), parseLocation("oci:/tmp/x:v1")),
      (e: unknown) => e instanceof DrayError && e.code === "E_USAGE",
    );
    checkAllTagsLocations(parseLocation("localhost:5000/app"), parseLocation("oci:/tmp/x"));
  });
});

describe("createLimiter", () => {
  it("never runs more than its limit, and runs everything", async () => {
    const limit = createLimiter(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 1 + (i % 3)));
          active--;
          return i;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(
      results,
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(limit.active, 0);
    assert.equal(limit.pending, 0);
  });

  it("bounds the summed weight of its tasks, and runs a task heavier than the whole alone", async () => {
    const limit = createLimiter(10);
    let used = 0;
    let peakLight = 0;
    const alone: boolean[] = [];
    const weights = [3, 3, 3, 3, 25, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5];
    await Promise.all(
      weights.map((w, i) =>
        limit(async () => {
          used += w;
          if (w > 10) alone.push(used === w);
          else peakLight = Math.max(peakLight, used);
          await new Promise((r) => setTimeout(r, 1 + (i % 3)));
          used -= w;
        }, w),
      ),
    );
    assert.equal(peakLight, 10);
    assert.deepEqual(alone, [true]);
    assert.equal(limit.active, 0);
  });

  it("does not start queued tasks once its signal is aborted", async () => {
    const controller = new AbortController();
    const limit = createLimiter(1, controller.signal);
    const started: number[] = [];
    const first = limit(async () => {
      started.push(1);
      controller.abort();
    });
    const second = limit(async () => {
      started.push(2);
    });
    await first;
    await assert.rejects(second, (e: unknown) => e instanceof DrayError && e.code === "E_INTERRUPTED");
    assert.deepEqual(started, [1]);
  });
});
