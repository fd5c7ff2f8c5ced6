// The vendor emulation itself: named hosts over HTTPS through the forward
// proxy, a token realm on its own name, and nothing dialled that is not mapped.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startVendor, type VendorEmulation } from "../helpers/vendor.js";
import { dray } from "../cli/run.js";

describe("vendor emulation harness", () => {
  let v: VendorEmulation;
  before(async () => {
    // A realm under the registry's own name works with every realm policy: the harness is tested alone.
    v = await startVendor({ realmHost: "auth.registry.example.test" });
    await pushImage(v.target, "harness/img", "v1", await buildImage({ seed: "harness" }));
  });
  after(() => v.hosts.stop());

  it("serves the registry by name over HTTPS, its realm on another name, through HTTPS_PROXY with --ca-file", async () => {
    const r = await dray(
      ["digest", `docker://${v.ref("harness/img:v1")}`, "--creds", `${v.username}:${v.password}`, "--ca-file", v.caFile],
      { env: v.env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.ok(
      v.hosts.log.some((l) => l.startsWith("GET https://auth.registry.example.test/token")),
      v.hosts.log.join("\n"),
    );
    assert.ok(v.front.count("HEAD", "/v2/harness/img/manifests/v1") + v.front.count("GET", "/v2/harness/img/manifests/v1") > 0);
  });

  it("without --ca-file the test CA is not trusted (the proxy does not weaken TLS)", async () => {
    const r = await dray(["digest", `docker://${v.ref("harness/img:v1")}`, "--retries", "0"], { env: v.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /certificate/i);
  });

  it("refuses any name it does not map: nothing leaves loopback", async () => {
    const r = await dray(["digest", "docker://registry.elsewhere.test/x:y", "--retries", "0"], { env: v.env });
    assert.notEqual(r.code, 0);
    assert.ok(v.hosts.refused.includes("registry.elsewhere.test"), v.hosts.refused.join(","));
  });
});
