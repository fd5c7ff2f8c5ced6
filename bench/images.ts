// The bench's images, built by code with the test fixtures and seeded into
// the source registry (and an OCI layout) without dray, so both tools read
// exactly the same bytes.
import { join } from "node:path";
import type { Digest } from "../src/oci/digest.js";
import { buildImage, buildIndex, pushImage, writeOciLayout } from "../test/helpers/fixtures.js";
import type { RegistryHandle } from "../test/helpers/registry.js";
import { pushBigImage, type BigImage } from "./big-layer.js";

export const TAG = "v1";
export const REPO_30 = "bench/layers30";
export const REPO_INDEX = "bench/index3";
export const REPO_BIG = "bench/big";
export const REPO_RECOPY = "bench/recopy";
/** The sync case's source: SYNC_REPOS repositories of SYNC_TAGS tags, all on the same base layers. */
export const SYNC_REPOS = ["bench/sync/app1", "bench/sync/app2", "bench/sync/app3", "bench/sync/app4"];
export const SYNC_TAGS = ["1.0", "1.1", "1.2", "2.0", "2.1"];
/** A destination prefix that already holds every sync image (the nothing-to-do case). */
export const SYNC_IDLE_PREFIX = "bench/sync-idle";

export interface BenchImages {
  layers30: Digest;
  index3: Digest;
  /** An OCI layout holding the 30-layer image as `v1`. */
  layoutDir: string;
  big: BigImage | undefined;
  /** Total bytes of the 30-layer image's blobs (for sanity checks of archives). */
  layers30Bytes: number;
  /** The sync images' digests, by `repo:tag`. */
  sync: Map<string, Digest>;
}

export interface ImageSizes {
  /** Size of the big layer in bytes; 0 skips it. */
  bigBytes: number;
}

const MiB = 1 << 20;

/** Builds and pushes everything the cases read; `log` reports progress. */
export async function prepareImages(
  src: RegistryHandle,
  dst: RegistryHandle,
  work: string,
  sizes: ImageSizes,
  log: (m: string) => void,
): Promise<BenchImages> {
  log("building 30 × 1 MiB layers");
  const img30 = await buildImage({ format: "oci", layerCount: 30, layerSize: MiB, seed: "bench-30" });
  const layers30 = await pushImage(src, REPO_30, TAG, img30);
  // The re-copy destination already holds everything.
  await pushImage(dst, REPO_RECOPY, TAG, img30);
  const layoutDir = join(work, "layout-src");
  await writeOciLayout(layoutDir, img30, TAG);
  const layers30Bytes = img30.layers.reduce((n, l) => n + l.size, img30.config.size);

  log("building a 3-platform index of 4 × 3 MiB layers each");
  const idx = await buildIndex({ format: "oci", layerCount: 4, layerSize: 3 * MiB, seed: "bench-index" });
  const index3 = await pushImage(src, REPO_INDEX, TAG, idx);

  let big: BigImage | undefined;
  if (sizes.bigBytes > 0) {
    log(`building and pushing a ${Math.round(sizes.bigBytes / MiB)} MiB single-layer image (streamed)`);
    big = await pushBigImage(src, REPO_BIG, TAG, join(work, "big-layer.tar.gz"), sizes.bigBytes);
  }
  log(`building ${SYNC_REPOS.length} repositories × ${SYNC_TAGS.length} tags on two shared 1 MiB base layers`);
  const sync = await pushSyncImages(src, dst);
  return { layers30, index3, layoutDir, big, layers30Bytes, sync };
}

/**
 * Each sync image: the two shared base layers and one 256 KiB layer of its
 * own, pushed to the source and, under SYNC_IDLE_PREFIX, to the destination.
 */
async function pushSyncImages(src: RegistryHandle, dst: RegistryHandle): Promise<Map<string, Digest>> {
  const base = await buildImage({ format: "oci", layerCount: 2, layerSize: MiB, seed: "bench-sync-base" });
  const digests = new Map<string, Digest>();
  for (const repo of SYNC_REPOS) {
    for (const tag of SYNC_TAGS) {
      const img = await buildImage({
        format: "oci",
        baseLayers: base.layers,
        layerCount: 1,
        layerSize: MiB / 4,
        seed: `bench-sync-${repo}-${tag}`,
      });
      digests.set(`${repo}:${tag}`, await pushImage(src, repo, tag, img));
      // Where each tool's sync puts it: dray under the full source path, skopeo under its last component.
      await pushImage(dst, `${SYNC_IDLE_PREFIX}/${repo}`, tag, img);
      await pushImage(dst, `${SYNC_IDLE_PREFIX}-skopeo/${repo.slice(repo.lastIndexOf("/") + 1)}`, tag, img);
    }
  }
  return digests;
}
