// skopeo, the independent peer, works against every registry mode through the
// wrapper's options (creds, cert dir, auth file), and its isolation holds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryMode } from "../helpers/registry.js";
import { assertSkopeoOk, authFileFor, skopeo, skopeoCopy, skopeoInspectRaw } from "../helpers/skopeo.js";

describe("skopeo wrapper against each registry mode", () => {
  for (const mode of ["htpasswd", "tls", "token"] as RegistryMode[]) {
    it(`${mode}: skopeo copies an image registry to registry, digests preserved`, async () => {
      const registry = await startRegistry({ mode });
      const img = await buildImage({ seed: `skopeo-${mode}`, format: "docker" });
      await pushImage(registry, "sk/src", "v1", img);
      const creds = registry.username ? `${registry.username}:${registry.password}` : undefined;
      const src = `docker://${registry.host}/sk/src:v1`;
      const dst = `docker://${registry.host}/sk/dst:v1`;
      const r = await skopeoCopy(src, dst, ["--preserve-digests"], {
        srcCreds: creds,
        destCreds: creds,
        srcCertDir: registry.certDir,
        destCertDir: registry.certDir,
      });
      assertSkopeoOk(r);
      // tls mode: with the cert dir skopeo verifies the registry's certificate.
      const raw = await skopeoInspectRaw(dst, { creds, certDir: registry.certDir });
      assert.ok(raw.equals(img.manifest.bytes));
      if (registry.certDir) {
        const untrusted = await skopeo(["inspect", "--raw", dst], { tlsVerify: true });
        assert.match(untrusted.stderr, /unknown authority/, "without the cert dir the test CA is not trusted");
      }
      if (creds) {
        const anon = await skopeo(["inspect", "--raw", "--tls-verify=false", dst]);
        assert.notEqual(anon.code, 0, "without credentials skopeo is refused");
        const viaFile = await skopeo(["inspect", "--raw", "--tls-verify=false", dst], {
          authFile: authFileFor(registry.host, registry.username!, registry.password!),
        });
        assertSkopeoOk(viaFile);
      }
      await registry.stop();
    });
  }

  it("does not read the user's auth files: each call has its own HOME and REGISTRY_AUTH_FILE", async () => {
    const r = await skopeo(["--version"], { env: { PROBE: "1" } });
    assertSkopeoOk(r);
    assert.match(r.stdout, /skopeo version 1\./);
    const env = await skopeo(["inspect", "--raw", "docker://127.0.0.1:1/none:x", "--tls-verify=false"]);
    assert.notEqual(env.code, 0);
    assert.match(env.stderr, /connection refused|dial tcp/);
  });
});
