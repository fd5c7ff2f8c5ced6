// The registry helper's four modes, each spoken to with plain HTTP: a blob is
// pushed and pulled back, and what each mode must refuse is refused.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Agent, fetch as undiciFetch } from "undici";
import { Digest } from "../../src/oci/digest.js";
import { seededBytes } from "../helpers/fixtures.js";
import { parseChallenge, TestRegistryClient } from "../helpers/http.js";
import { startRegistry, type RegistryHandle, type RegistryMode } from "../helpers/registry.js";

const blob = seededBytes("modes", 70_000);
const digest = Digest.of(blob).toString();

async function pushAndPull(registry: RegistryHandle, repo: string): Promise<TestRegistryClient> {
  const client = new TestRegistryClient(registry);
  await client.pushBlob(repo, digest, blob);
  const got = await client.getBlob(repo, digest);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("docker-content-digest"), digest);
  assert.equal(Digest.of(got.body).toString(), digest);
  assert.ok(got.body.equals(blob));
  return client;
}

describe("registry modes: push and pull a blob over HTTP", () => {
  const modes: RegistryMode[] = ["plain", "htpasswd", "tls", "token"];
  for (const mode of modes) {
    describe(mode, () => {
      let registry: RegistryHandle;
      before(async () => {
        registry = await startRegistry({ mode, deleteEnabled: true });
      });
      after(async () => registry?.stop());

      it("push then pull gives the same bytes and digest", async () => {
        const client = await pushAndPull(registry, `modes/${mode}`);
        await client.close();
        assert.equal(registry.host, `127.0.0.1:${registry.port}`);
        assert.equal(registry.url, `${mode === "tls" ? "https" : "http"}://${registry.host}`);
      });

      it("survives restart() with its storage", async () => {
        await registry.restart();
        const client = new TestRegistryClient(registry);
        const got = await client.getBlob(`modes/${mode}`, digest);
        await client.close();
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(blob));
      });
    });
  }
});

describe("registry modes: what each refuses", () => {
  it("plain: answers without credentials, and deletes when deleteEnabled", async () => {
    const registry = await startRegistry({ deleteEnabled: true });
    const client = await pushAndPull(registry, "refuse/plain");
    const del = await client.request(`/v2/refuse/plain/blobs/${digest}`, { method: "DELETE" });
    assert.equal(del.status, 202);
    assert.equal((await client.getBlob("refuse/plain", digest)).status, 404);
    await client.close();
    await registry.stop();
  });

  it("plain without deleteEnabled: DELETE is unsupported", async () => {
    const registry = await startRegistry();
    const client = await pushAndPull(registry, "refuse/nodelete");
    const del = await client.request(`/v2/refuse/nodelete/blobs/${digest}`, { method: "DELETE" });
    assert.equal(del.status, 405);
    await client.close();
    await registry.stop();
  });

  it("htpasswd: 401 with a Basic challenge without or with wrong credentials", async () => {
    const registry = await startRegistry({ mode: "htpasswd" });
    const anon = await fetch(`${registry.url}/v2/`);
    assert.equal(anon.status, 401);
    assert.equal(parseChallenge(anon.headers.get("www-authenticate") ?? "").scheme, "basic");
    const wrong = await fetch(`${registry.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from("dray:nope").toString("base64")}` },
    });
    assert.equal(wrong.status, 401);
    const right = await fetch(`${registry.url}/v2/`, { headers: { authorization: registry.basicAuth! } });
    assert.equal(right.status, 200);
    await registry.stop();
  });

  it("tls: refuses plain HTTP and untrusted TLS; trusts the CA it made", async () => {
    const registry = await startRegistry({ mode: "tls" });
    const http = await fetch(`http://${registry.host}/v2/`);
    assert.equal(http.status, 400, "Go's TLS server answers plain HTTP with 400");
    await assert.rejects(fetch(`${registry.url}/v2/`), "the default trust store does not know the test CA");
    const agent = new Agent({ connect: { ca: registry.caPem } });
    const ok = await undiciFetch(`${registry.url}/v2/`, { dispatcher: agent });
    assert.equal(ok.status, 200);
    const byName = await undiciFetch(`https://localhost:${registry.port}/v2/`, { dispatcher: agent });
    assert.equal(byName.status, 200, "the certificate also names localhost");
    await agent.close();
    assert.match(registry.caFile!, /ca\.crt$/);
    await registry.stop();
  });

  describe("token", () => {
    let registry: RegistryHandle;
    before(async () => {
      registry = await startRegistry({ mode: "token" });
    });
    after(async () => registry?.stop());

    it("challenges with Bearer pointing at the token server; the token server records scope and user", async () => {
      const res = await fetch(`${registry.url}/v2/tok/repo/blobs/${digest}`);
      assert.equal(res.status, 401);
      const ch = parseChallenge(res.headers.get("www-authenticate") ?? "");
      assert.equal(ch.scheme, "bearer");
      assert.equal(ch.params.realm, registry.tokenServer!.realm);
      assert.equal(ch.params.service, registry.tokenServer!.service);
      assert.equal(ch.params.scope, "repository:tok/repo:pull");

      const before = registry.tokenServer!.requests;
      const client = await pushAndPull(registry, "tok/repo");
      await client.close();
      const seen = registry.tokenServer!.log.slice(before);
      assert.ok(seen.length >= 1);
      assert.ok(seen.every((r) => r.username === "dray" && r.method === "GET" && r.status === 200));
      assert.ok(seen.some((r) => r.scopes.includes("repository:tok/repo:pull,push")));
      assert.ok(seen.some((r) => r.granted.includes("repository:tok/repo:pull,push")));
    });

    it("refuses wrong credentials at the token server, and an anonymous token at the registry", async () => {
      const url = `${registry.tokenServer!.realm}?service=${registry.tokenServer!.service}&scope=repository:tok/repo:pull`;
      const wrong = await fetch(url, { headers: { authorization: `Basic ${Buffer.from("dray:nope").toString("base64")}` } });
      assert.equal(wrong.status, 401);
      const anon = await fetch(url);
      assert.equal(anon.status, 200);
      const { token } = (await anon.json()) as { token: string };
      const denied = await fetch(`${registry.url}/v2/tok/repo/blobs/${digest}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(denied.status, 401, "a token without access is refused");
      const forged = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
      const bad = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${forged}` } });
      assert.equal(bad.status, 401, "a token with a broken signature is refused");
    });

    it("OAuth2 POST: password grant with offline access, then refresh_token grant", async () => {
      const ts = registry.tokenServer!;
      const post = async (form: Record<string, string>): Promise<Response> =>
        await fetch(ts.realm, { method: "POST", body: new URLSearchParams(form) });
      const first = await post({
        grant_type: "password",
        username: registry.username!,
        password: registry.password!,
        service: ts.service,
        scope: "repository:tok/repo:pull",
        client_id: "dray-test",
        access_type: "offline",
      });
      assert.equal(first.status, 200);
      const a = (await first.json()) as { access_token: string; refresh_token: string };
      assert.ok(a.refresh_token);
      const second = await post({
        grant_type: "refresh_token",
        refresh_token: a.refresh_token,
        service: ts.service,
        scope: "repository:tok/repo:pull",
        client_id: "dray-test",
      });
      assert.equal(second.status, 200);
      const b = (await second.json()) as { access_token: string };
      const got = await fetch(`${registry.url}/v2/tok/repo/blobs/${digest}`, { headers: { authorization: `Bearer ${b.access_token}` } });
      assert.equal(got.status, 200);
      assert.equal(Digest.of(Buffer.from(await got.arrayBuffer())).toString(), digest);
      const last = ts.log.at(-1)!;
      assert.equal(last.method, "POST");
      assert.equal(last.grantType, "refresh_token");
      assert.equal(last.clientId, "dray-test");
      const badRefresh = await post({ grant_type: "refresh_token", refresh_token: "nope", service: ts.service, scope: "" });
      assert.equal(badRefresh.status, 401);
    });

    it("anonymousPull grants pull to a request without credentials", async () => {
      registry.tokenServer!.options.anonymousPull = true;
      try {
        const url = `${registry.tokenServer!.realm}?service=${registry.tokenServer!.service}&scope=repository:tok/repo:pull,push`;
        const { token } = (await (await fetch(url)).json()) as { token: string };
        const got = await fetch(`${registry.url}/v2/tok/repo/blobs/${digest}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(got.status, 200);
        assert.deepEqual(registry.tokenServer!.log.at(-1)!.granted, ["repository:tok/repo:pull"]);
      } finally {
        registry.tokenServer!.options.anonymousPull = false;
      }
    });
  });
});

describe("registry helper: a test blocked in spawnSync", () => {
  // The README test runs every example with spawnSync, so its event loop reads
  // nothing for minutes. The registry logs about 600 bytes for each 404; into
  // a pipe, the 110th or so filled it, and the registry, blocked in its
  // logger, answered no manifest request again (the sync that "hung").
  it("does not stall the registry: 300 logged 404s while the test's event loop is blocked", async () => {
    const registry = await startRegistry();
    try {
      const script = `(async () => {
        for (let i = 0; i < 300; i++) {
          const r = await fetch(process.argv[1] + "/v2/blocked/app/manifests/missing-" + i, { method: "HEAD", signal: AbortSignal.timeout(10000) });
          if (r.status !== 404) throw new Error("status " + r.status);
        }
      })().catch((e) => { console.error(String(e)); process.exit(1); });`;
      const r = spawnSync(process.execPath, ["-e", script, registry.url], { encoding: "utf8", timeout: 90_000 });
      assert.equal(r.status, 0, `${r.error?.message ?? ""} ${r.stderr}`);
      assert.match(registry.logs(), /missing-299/);
    } finally {
      await registry.stop();
    }
  });
});
