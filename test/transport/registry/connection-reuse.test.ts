// Requests one after another reuse one kept-alive connection: counted by the
// bench's delay proxy in front of a real registry (a new connection is a round
// trip on a real link, three with TLS). No timing is asserted, only counts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startDelayProxy, type DelayProxy } from "../../../bench/delay-proxy.js";
import { copy } from "../../../src/index.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import {
  closeDispatchers,
  DEFAULT_TIMEOUTS,
  sendWithRetries,
  type HttpMethod,
  type HttpSettings,
} from "../../../src/transport/registry/http/http.js";
import { discard } from "../../../src/transport/registry/http/response.js";
import { buildImage, pushImage } from "../../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../../helpers/registry.js";

const SETTINGS: HttpSettings = { tls: { insecure: false, caFiles: [] }, retries: 0, timeouts: DEFAULT_TIMEOUTS };

describe("connection reuse", () => {
  let registry: RegistryHandle;
  const proxies: DelayProxy[] = [];
  /** A proxy of its own per test: a new host, so nothing dray remembers about another (its ping) carries over. */
  const freshProxy = async (): Promise<DelayProxy> => {
    await closeDispatchers();
    const p = await startDelayProxy(registry.host, 2, "registry");
    proxies.push(p);
    return p;
  };

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    const img = await buildImage({ seed: "reuse" });
    await pushImage(registry, "reuse/app", "v1", img);
    await pushImage(registry, "reuse/copy", "v1", img);
  });
  after(async () => {
    await closeDispatchers();
    for (const p of proxies) await p.close();
    await registry?.stop();
  });

  for (const method of ["GET", "HEAD"] as HttpMethod[]) {
    it(`${method} requests one after another share one connection (undici closes after a HEAD unless told not to)`, async () => {
      const proxy = await freshProxy();
      for (let i = 0; i < 4; i++) {
        const url = new URL(`http://${proxy.host}/v2/reuse/app/manifests/v1`);
        const res = await sendWithRetries({ method, url, headers: { accept: MediaType.OciManifest } }, SETTINGS);
        assert.equal(res.status, 200);
        await discard(res);
      }
      const { requests, connections } = proxy.counts();
      assert.deepEqual({ requests, connections }, { requests: 4, connections: 1 });
    });
  }

  it("a re-copy sends no /v2/ ping: the source's manifest GET beside the destination's HEAD, one connection each", async () => {
    const proxy = await freshProxy();
    const summary = await copy(`${proxy.host}/reuse/app:v1`, `${proxy.host}/reuse/copy:v1`);
    assert.equal(summary.upToDate, true, "nothing to copy: the destination has it");
    const seen = proxy.counts();
    const lines = seen.timeline.map((m) => `${m.method} ${m.path}`);
    assert.deepEqual(lines.sort(), ["GET /v2/reuse/app/manifests/v1", "HEAD /v2/reuse/copy/manifests/v1"], lines.join(", "));
    // Two requests at once need two connections.
    assert.equal(seen.connections, 2, `two connections for ${seen.requests} requests`);
  });
});
