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

export interface BenchImages {
  layers30: Digest;
  index3: Digest;
  /** An OCI layout holding the 30-layer image as `v1`. */
  layoutDir: string;
  big: BigImage | undefined;
  /** Total bytes of the 30-layer image's blobs (for sanity checks of archives). */
  layers30Bytes: number;
}

export interface ImageSizes {
  /** Size of the big layer in bytes; 0 skips it. */
  bigBytes: number;
}

const MiB = 1 << 20;

/** Builds and pushes everything the cases read; `log` reports progress. */
export async function prepareImages(src: RegistryHandle, dst: RegistryHandle, work: string, sizes: ImageSizes, log: (m: string) => void): Promise<BenchImages> {
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
  return { layers30, index3, layoutDir, big, layers30Bytes };
}
