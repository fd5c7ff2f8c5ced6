// What a newcomer reads on stderr (issue 28): each message here is one real
// `dray` run, checked word for word where the words are the point.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { networkFailureText } from "../../src/transport/registry/errors.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { freePort, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { dray } from "./run.js";

/** A path or URL as it appears inside a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("network failures in words, naming the request", () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];
  let reg: RegistryHandle;
  let proxy: FaultProxy;

  before(async () => {
    silent = createServer((s) => {
      sockets.push(s); // accepts, then never says a word
      s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentPort = (silent.address() as { port: number }).port;
    reg = await startRegistry();
    proxy = await startProxy(reg);
    await pushImage({ url: reg.url }, "app", "1", await buildImage({ seed: "messages-net" }));
  });
  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });

  it("nothing listening: the host and port, a question, the request, the retries", async () => {
    const port = await freePort();
    const r = await dray(["inspect", `127.0.0.1:${port}/app:1`, "--retries", "1"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `dray: nothing listens on 127.0.0.1:${port} (is the registry running?): GET http://127.0.0.1:${port}/v2/app/manifests/1 (after 1 retry; --retries N)\n`,
    );
  });

  it("a server that accepts and stays silent: 'sent nothing within N s', plain HTTP kept (no https, no /v2/ ping)", async () => {
    const r = await dray(["inspect", `127.0.0.1:${silentPort}/app:1`, "--retries", "0"], { env: { DRAY_HTTP_TIMEOUT: "1" } });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `dray: 127.0.0.1:${silentPort} accepted the connection but sent nothing within 1 s: GET http://127.0.0.1:${silentPort}/v2/app/manifests/1\n`,
    );
  });

  it("a 5xx that outlasts the retries says it was retried", async () => {
    proxy.addRule({ method: "GET", path: "/manifests/", action: { kind: "status", status: 503 } });
    try {
      const r = await dray(["inspect", `${proxy.host}/app:1`, "--retries", "2"]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `^dray: registry error: manifest 1 at docker://${re(proxy.host)}/app:1: HTTP 503: injected 503 \\(UNKNOWN\\) \\(after 2 retries; --retries N\\)\n$`,
        ),
      );
    } finally {
      proxy.clearRules();
    }
  });

  it("a name that does not resolve, and the other failures, each in words (getaddrinfo's error shape)", () => {
    const url = new URL("https://registry.invalid/v2/app/manifests/1");
    const req = `GET ${url.href}`;
    const err = (code: string, message = code): Error => Object.assign(new Error(message), { code });
    assert.equal(
      networkFailureText(err("ENOTFOUND", "getaddrinfo ENOTFOUND registry.invalid"), req, url),
      `cannot resolve registry.invalid (no such host): ${req}`,
    );
    assert.equal(
      networkFailureText(err("UND_ERR_CONNECT_TIMEOUT"), req, url, 30),
      `registry.invalid:443 did not accept a connection within 30 s: ${req}`,
    );
    assert.equal(networkFailureText(err("ECONNRESET"), req, url), `registry.invalid:443 closed the connection: ${req}`);
  });
});
