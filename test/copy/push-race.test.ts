// The everyday push of a locally built image, many times over: `dray copy
// oci:LAYOUT docker://…` (the CLI, as users run it) of one image whose gzip
// layers sit on and beside every size the upload path turns on: the 1 MiB
// cut-off between a buffered upload and a streamed PUT, the 256 KiB reads of
// a layout's blob files, and the 16 KiB buffers of the stream stages. 20
// copies, two at a time so the machine is busy, into new repositories (every
// blob moves every time), each of which must succeed and leave every layer in
// the registry. Before the fix, a streamed layer whose registry answered
// before the layout's read found its end of file failed the copy with a bare
// "dray: Premature close" (issue 27 item 26).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "../cli/run.js";

const KiB = 1024;
const MiB = 1024 * KiB;
/** Above this a registry upload streams (RegistryClient's monolithicMaxBytes); at or below it is buffered. */
const STREAMED_ABOVE = MiB;
/** A layout's blob file is read in pieces of this size (src/transport/file-io.ts). */
const READ = 256 * KiB;
const LAYER_SIZES = [
  READ, // one read exactly, buffered
  STREAMED_ABOVE - 1,
  STREAMED_ABOVE, // the largest buffered upload
  STREAMED_ABOVE + 1, // the smallest streamed one: a 1-byte last read
  1_049_045, // the layer: 1 MiB of random bytes gzipped
  STREAMED_ABOVE + 1248,
  STREAMED_ABOVE + READ, // streamed, ends on a read boundary
  STREAMED_ABOVE + READ + 16 * KiB + 1,
  2 * MiB - 1,
  5 * MiB,
  5 * MiB + 1,
];
const COPIES = 20;
const AT_ONCE = 2;

describe("push of a layout's image at the upload path's thresholds, 20 times", () => {
  let registry: RegistryHandle;
  let image: BuiltImage;
  let layout: string;

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    image = await buildImage({ seed: "push-race", layerSizes: LAYER_SIZES });
    assert.deepEqual(
      image.layers.map((l) => l.size),
      LAYER_SIZES,
    );
    layout = makeTempDir("dray-push-race-");
    await writeOciLayout(layout, image, "v1");
  });
  after(async () => {
    await registry?.stop();
  });

  it("every copy succeeds and the registry holds every layer", async () => {
    const failures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < COPIES; i = next++) {
        const r = await dray(["copy", "--progress", "none", `oci:${layout}:v1`, `docker://${registry.host}/race/copy${i}:v1`]);
        if (r.code !== 0) failures.push(`copy ${i}: exit ${r.code}: ${r.stderr.trim().split("\n").at(-1)}`);
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, worker));
    assert.deepEqual(failures, [], `${failures.length} of ${COPIES} copies failed`);
    const client = new TestRegistryClient({ url: registry.url });
    try {
      for (let i = 0; i < COPIES; i += 7) {
        for (const l of image.layers) {
          const res = await client.request(`/v2/race/copy${i}/blobs/${l.digest}`, { method: "HEAD" });
          assert.equal(res.status, 200, `race/copy${i} lacks the ${l.size}-byte layer`);
          assert.equal(res.headers.get("content-length"), String(l.size));
        }
      }
    } finally {
      await client.close();
    }
  });
});
