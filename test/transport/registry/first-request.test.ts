// dray sends no `GET /v2/` ping before its first request (issue 17): the
// first real answer settles the scheme and a 401 brings the challenge. These
// tests show what the registry sees, and that the cases a ping used to
// decide (a web server that is no registry, a loopback registry that speaks
// TLS, a repository hidden from anonymous requests) still come out right.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { dray } from "../../cli/run.js";
import { buildImage, pushImage } from "../../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../../helpers/registry.js";

const requestLines = (proxy: FaultProxy): string[] => proxy.log.map((e) => `${e.method} ${e.path} ${e.status ?? "-"}`);

describe("the first request settles what a /v2/ ping used to", () => {
  const registries: RegistryHandle[] = [];
  const start = async (mode: RegistryHandle["mode"]): Promise<RegistryHandle> => {
    const reg = await startRegistry({ mode });
    registries.push(reg);
    await pushImage(reg, "first/app", "v1", await buildImage({ seed: "first-request" }));
    return reg;
  };
  let plain: RegistryHandle;
  let token: RegistryHandle;
  let tls: RegistryHandle;

  before(async () => {
    requireTool("docker-registry");
    [plain, token, tls] = await Promise.all([start("plain"), start("token"), start("tls")]);
  });
  after(async () => {
    for (const r of registries) await r.stop();
  });

  it("an anonymous registry: the manifest GET is the only request, no GET /v2/", async () => {
    const proxy = await startProxy(plain);
    const r = await dray(["inspect", "--raw", `docker://${proxy.host}/first/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(requestLines(proxy), ["GET /v2/first/app/manifests/v1 200"]);
  });

  it("a token registry: the first request's 401 brings the challenge; the credential goes to the token service only", async () => {
    const proxy = await startProxy(token);
    const r = await dray([
      "inspect",
      "--raw",
      ...token.trustRealm,
      "--creds",
      `${token.username}:${token.password}`,
      `docker://${proxy.host}/first/app:v1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(requestLines(proxy), ["GET /v2/first/app/manifests/v1 401", "GET /v2/first/app/manifests/v1 200"]);
    assert.match(String(proxy.log[1]!.headers.authorization), /^Bearer /);
    assert.equal(proxy.log[0]!.headers.authorization, undefined);
  });

  it("a repository hidden from anonymous requests (404 with the registry's header): with a credential, the ping's challenge gets it", async () => {
    const proxy = await startProxy(token);
    // Some registries answer an anonymous request for a private repository 404, not 401.
    proxy.addRule({
      method: "GET",
      path: "/manifests/",
      authorized: false,
      action: {
        kind: "status",
        status: 404,
        headers: { "Docker-Distribution-API-Version": "registry/2.0", "Content-Type": "application/json" },
        body: '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}',
      },
    });
    const where = `docker://${proxy.host}/first/app:v1`;
    const withCreds = await dray(["inspect", "--raw", ...token.trustRealm, "--creds", `${token.username}:${token.password}`, where]);
    assert.equal(withCreds.code, 0, withCreds.stderr);
    assert.deepEqual(requestLines(proxy), ["GET /v2/first/app/manifests/v1 404", "GET /v2/ 401", "GET /v2/first/app/manifests/v1 200"]);
    proxy.log.length = 0;
    const anonymous = await dray(["inspect", "--raw", where], {
      env: { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent", REGISTRY_AUTH_FILE: "" },
    });
    assert.equal(anonymous.code, 3, anonymous.stderr);
    assert.deepEqual(requestLines(proxy), ["GET /v2/first/app/manifests/v1 404"], "without a credential the 404 stands, no ping");
  });

  it("a web server that is no registry: one line saying so (exit 1), found by the ping the bare 404 asked for", async () => {
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await dray(["inspect", "--raw", `docker://${host}/first/app:v1`]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^dray: http://${host.replace(/\./g, "\\.")} does not look like a registry: GET /v2/ answered HTTP 404\\n$`),
      );
      assert.deepEqual(seen, ["GET /v2/first/app/manifests/v1", "GET /v2/"]);
    } finally {
      server.close();
    }
  });

  it("a loopback registry that speaks TLS: with --ca-file the first request is HTTPS; with --insecure, plain HTTP's bare 400 leads to HTTPS", async () => {
    const where = `docker://${tls.host}/first/app:v1`;
    const withCa = await dray(["inspect", "--raw", "--debug", "--ca-file", tls.caFile!, where]);
    assert.equal(withCa.code, 0, withCa.stderr);
    const requests = (stderr: string): string[] =>
      stderr
        .split("\n")
        .filter((l) => /^(GET|HEAD) /.test(l))
        .map((l) => l.replace(/ \(\d+ ms\)$/, ""));
    assert.deepEqual(requests(withCa.stderr), [`GET https://${tls.host}/v2/first/app/manifests/v1 -> 200`]);
    const insecure = await dray(["inspect", "--raw", "--debug", "--insecure", where]);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.deepEqual(requests(insecure.stderr), [
      `GET http://${tls.host}/v2/first/app/manifests/v1 -> 400`,
      `GET http://${tls.host}/v2/ -> 400`,
      `GET https://${tls.host}/v2/ -> 200`,
      `GET https://${tls.host}/v2/first/app/manifests/v1 -> 200`,
    ]);
  });
});
