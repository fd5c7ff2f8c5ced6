// The bench's delay proxy (bench/delay-proxy.ts) in front of a real registry:
// every byte arrives, in order, and it counts requests and new connections.
// (How long it holds them is the bench's business: no timed assertion here.)
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Agent, request } from "undici";
import { startDelayProxy, type DelayProxy } from "../../bench/delay-proxy.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";

describe("bench delay proxy", () => {
  let registry: RegistryHandle;
  let proxy: DelayProxy;
  let layer: { digest: string; size: number };

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    const img = await buildImage({ seed: "delay-proxy", layerCount: 1, layerSize: 3 * 1024 * 1024 });
    await pushImage(registry, "proxy/app", "v1", img);
    layer = { digest: img.layers[0]!.digest.toString(), size: img.layers[0]!.size };
    proxy = await startDelayProxy(registry.host, 10);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
  });

  it("passes a 3 MiB blob intact and in order, and counts requests and connections", async () => {
    const agent = new Agent({ connections: 1 });
    try {
      proxy.reset();
      for (let i = 0; i < 2; i++) {
        const res = await request(`http://${proxy.host}/v2/proxy/app/blobs/${layer.digest}`, { dispatcher: agent });
        assert.equal(res.statusCode, 200);
        const hash = createHash("sha256");
        let size = 0;
        for await (const chunk of res.body) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        assert.equal(size, layer.size);
        assert.equal(`sha256:${hash.digest("hex")}`, layer.digest);
      }
      const head = await request(`http://${proxy.host}/v2/proxy/app/manifests/v1`, {
        method: "HEAD",
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        dispatcher: agent,
      });
      assert.equal(head.statusCode, 200);
      assert.deepEqual(proxy.counts(), { requests: 3, connections: 1 }, "three requests over one kept connection");
      proxy.reset();
      assert.deepEqual(proxy.counts(), { requests: 0, connections: 0 });
    } finally {
      await agent.close();
    }
  });
});
