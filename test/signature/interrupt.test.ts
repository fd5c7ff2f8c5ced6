// A signal while the gate or `dray verify` looks for signatures: the run ends
// at once with 130 and is not reported as a refusal ("no signature found")
// made up from the lookups the signal cut short; nothing reaches the
// destination. The slow registry is the fault proxy holding the referrers
// API (a body one byte every 2 s) in front of the real registry.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { start, waitFor } from "../reliability/support.js";
import { opensslKey } from "./artifacts.js";

describe("SIGINT during signature verification", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let pub: string;

  before(async () => {
    reg = await startRegistry();
    proxy = await startProxy({ url: `http://${reg.host}` });
    pub = opensslKey(makeTempDir("dray-verify-int-"), "k", "ec").pub;
    await pushImage(reg, "int/app", "1", await buildImage({ seed: "verify-interrupt" }));
  });
  after(async () => {
    await proxy.stop();
    await reg.stop();
  });

  for (const cmd of ["verify", "copy"] as const) {
    it(`${cmd}: exits 130 within seconds, says interrupted, and refuses nothing`, async () => {
      proxy.clearRules();
      const held = proxy.addRule({ path: "/referrers/", action: { kind: "trickle", everyMs: 2_000 } });
      const src = `docker://${proxy.host}/int/app:1`;
      const dst = `docker://${reg.host}/int/${cmd}-dst:1`;
      const run = start(cmd === "verify" ? ["verify", src, "--key", pub] : ["copy", src, dst, "--verify-key", pub]);
      await waitFor(() => held.hits > 0, 20_000, "the held referrers request");
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      run.child.kill("SIGINT");
      const r = await run.wait();
      assert.equal(r.code, 130, r.stdout + r.stderr);
      // A watchdog, not a timing: the held response trickles for minutes, so an ignored SIGINT would run far past this.
      assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
      assert.match(r.stderr, /interrupted/);
      assert.doesNotMatch(r.stdout + r.stderr, /refused|no signature found/);
      assert.equal(existsSync(join(reg.storageDir, `docker/registry/v2/repositories/int/${cmd}-dst`)), false);
    });
  }
});
