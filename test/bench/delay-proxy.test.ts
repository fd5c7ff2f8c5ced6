// The bench's delay proxy (bench/delay-proxy.ts) in front of a real registry:
// every byte arrives, in order, and it counts requests and new connections.
// (How long it holds them is the bench's business: no timed assertion here.)
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Agent, request } from "undici";
import { startDelayProxy, type DelayProxy } from "../../bench/delay-proxy.js";
import { describeWave, toWaves, type RequestMark } from "../../bench/timeline.js";
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
    proxy = await startDelayProxy(registry.host, 10, "src");
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
      const { timeline, ...counts } = proxy.counts();
      assert.deepEqual(counts, { requests: 3, connections: 1 }, "three requests over one kept connection");
      assert.deepEqual(
        timeline.map((m) => `${m.side} ${m.method} ${m.path}`),
        [
          `src GET /v2/proxy/app/blobs/${layer.digest}`,
          `src GET /v2/proxy/app/blobs/${layer.digest}`,
          "src HEAD /v2/proxy/app/manifests/v1",
        ],
      );
      // Each request waited for the answer before it: three waves.
      assert.equal(toWaves(timeline, 7.5).length, 3);
      proxy.reset();
      assert.deepEqual(proxy.counts(), { requests: 0, connections: 0, timeline: [] });
    } finally {
      await agent.close();
    }
  });
});

describe("bench request timeline", () => {
  const mark = (at: number, side: string, method: string, path: string): RequestMark => ({ at, side, method, path });

  it("groups requests that did not wait for each other into one wave, in time order", () => {
    const marks = [
      mark(1000, "src", "GET", "/v2/"),
      mark(1002, "dst", "GET", "/v2/"),
      mark(1021, "src", "GET", "/v2/a/manifests/v1"),
      mark(1043, "dst", "HEAD", "/v2/b/blobs/sha256:1"),
      mark(1041, "dst", "HEAD", "/v2/b/blobs/sha256:2"),
      mark(1044, "dst", "POST", "/v2/b/blobs/uploads/"),
      mark(1066, "dst", "PUT", "/v2/b/blobs/uploads/x?digest=sha256:1"),
    ];
    const waves = toWaves(marks, 15);
    assert.deepEqual(
      waves.map((w) => [w.startMs, describeWave(w)]),
      [
        [0, "src: GET ping /v2/ ×1, dst: GET ping /v2/ ×1"],
        [21, "src: GET manifest ×1"],
        [41, "dst: HEAD blob ×2, dst: POST upload start ×1"],
        [66, "dst: PUT upload ×1"],
      ],
    );
  });
});
