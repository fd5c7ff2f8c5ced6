// A blob copied between registries: the destination's upload POST goes out
// while the source's GET is still waiting for its answer (issue 17, the
// critical path), so the two round trips overlap instead of following each
// other. Shown by order, not by timing: the source's blob GETs are held
// 400 ms at a fault proxy, and each layer's POST must reach the destination
// before any held layer GET is answered.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { copy } from "../../src/index.js";
import { closeRegistryConnections } from "../../src/transport/registry/index.js";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";

describe("upload POST beside the blob GET", () => {
  let registry: RegistryHandle;
  let image: BuiltImage;
  let source: FaultProxy;
  let destination: FaultProxy;

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    image = await buildImage({ seed: "overlap", layerCount: 3, layerSize: 1536 * 1024 });
    await pushImage(registry, "overlap/src", "v1", image);
    // Two hosts in front of one registry: no cross-repository mount between them.
    [source, destination] = await Promise.all([startProxy(registry), startProxy(registry)]);
  });
  after(async () => {
    await closeRegistryConnections();
    await registry?.stop();
  });

  it("each layer's upload POST reaches the destination before the source has answered a layer GET", async () => {
    source.addRule({ method: "GET", path: "/blobs/sha256:", action: { kind: "stall", ms: 400 } });
    const summary = await copy(`${source.host}/overlap/src:v1`, `${destination.host}/overlap/dst:v1`);
    assert.equal(summary.blobs.copied, image.layers.length + 1, "the layers and the config were copied");
    const layerGets = source.log.filter((e) => e.method === "GET" && image.layers.some((l) => e.path.endsWith(`/blobs/${l.digest}`)));
    assert.equal(layerGets.length, image.layers.length, "one GET per layer");
    const firstAnswer = Math.min(...layerGets.map((g) => g.end ?? Infinity));
    const posts = destination.log.filter((e) => e.method === "POST" && e.path.includes("/blobs/uploads/"));
    const early = posts.filter((p) => p.at < firstAnswer).length;
    assert.ok(
      early >= image.layers.length,
      `${early} of ${posts.length} upload POSTs arrived before the first held layer GET was answered`,
    );
  });
});
