// Each fault-proxy rule does what it says, observed with plain node:http
// against a real registry behind the proxy.
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { request, type IncomingHttpHeaders } from "node:http";
import { after, before, beforeEach, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { seededBytes } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { retryAfter, startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";

interface RawResult {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: Buffer;
  /** Set when the connection failed or ended before the declared body. */
  error?: string;
  /** Milliseconds until the first body byte (or the end). */
  firstByteMs: number;
  totalMs: number;
}

/** One request with node:http, reporting exactly what arrived before any failure. */
function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let firstByteMs = -1;
    const result = (extra: Partial<RawResult>): RawResult => ({
      body: Buffer.concat(chunks),
      firstByteMs: firstByteMs < 0 ? Date.now() - t0 : firstByteMs,
      totalMs: Date.now() - t0,
      ...extra,
    });
    const req = request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false });
    req.on("response", (res) => {
      res.on("data", (c: Buffer) => {
        if (firstByteMs < 0) firstByteMs = Date.now() - t0;
        chunks.push(c);
      });
      res.on("end", () => {
        const declared = res.headers["content-length"];
        const short = declared !== undefined && Number(declared) !== Buffer.concat(chunks).length;
        resolve(result({ status: res.statusCode, headers: res.headers, ...(short ? { error: "short body" } : {}) }));
      });
      res.on("error", (e) => resolve(result({ status: res.statusCode, headers: res.headers, error: e.message })));
      res.on("aborted", () => resolve(result({ status: res.statusCode, headers: res.headers, error: "aborted" })));
    });
    req.on("error", (e) => resolve(result({ error: e.message })));
    req.end(opts.body);
  });
}

describe("fault proxy", () => {
  let registry: RegistryHandle;
  let proxy: FaultProxy;
  const repo = "proxy/test";
  const blob = seededBytes("proxy-blob", 200_000);
  const digest = Digest.of(blob).toString();
  const blobPath = `/v2/${repo}/blobs/${digest}`;

  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry);
    const client = new TestRegistryClient(proxy.target);
    await client.pushBlob(repo, digest, blob);
    await client.close();
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });
  beforeEach(() => proxy.clearRules());

  it("passes requests through and counts them by method and path", async () => {
    const before = proxy.count("GET", /\/blobs\/sha256:/);
    const r = await raw(`${proxy.url}${blobPath}`);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(blob));
    assert.equal(proxy.count("GET", /\/blobs\/sha256:/), before + 1);
    assert.ok(proxy.count("POST", "/blobs/uploads/") >= 1, "the seeding upload went through the proxy");
    assert.equal(proxy.count("DELETE"), 0);
  });

  it("keeps Location headers pointing at the proxy (Host is forwarded)", async () => {
    const r = await raw(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    assert.equal(r.status, 202);
    assert.ok(
      String(r.headers?.location).startsWith(proxy.url) || String(r.headers?.location).startsWith("/"),
      String(r.headers?.location),
    );
  });

  it("status: answers 503 N times, then passes", async () => {
    const rule = proxy.addRule({ method: "GET", path: blobPath, times: 2, action: { kind: "status", status: 503 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await raw(`${proxy.url}${blobPath}`)).status);
    assert.deepEqual(statuses, [503, 503, 200]);
    assert.equal(rule.hits, 2);
  });

  it("status: 429 with Retry-After in seconds or as an HTTP-date", async () => {
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "status", status: 429, headers: retryAfter(2) } });
    const date = new Date(Date.now() + 3000);
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "status", status: 429, headers: retryAfter(date) } });
    const a = await raw(`${proxy.url}${blobPath}`);
    const b = await raw(`${proxy.url}${blobPath}`);
    assert.equal(a.status, 429);
    assert.equal(a.headers?.["retry-after"], "2");
    assert.equal(b.status, 429);
    assert.equal(b.headers?.["retry-after"], date.toUTCString());
    assert.equal((await raw(`${proxy.url}${blobPath}`)).status, 200);
  });

  it("cutResponse: sends headers and N body bytes, then drops the connection", async () => {
    proxy.addRule({ method: "GET", path: blobPath, times: 1, action: { kind: "cutResponse", afterBytes: 1000 } });
    const r = await raw(`${proxy.url}${blobPath}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers?.["content-length"], String(blob.length));
    assert.ok(r.error, "the client sees a failure");
    assert.equal(r.body.length, 1000);
    assert.ok(r.body.equals(blob.subarray(0, 1000)));
  });

  it("cutResponse honours Range requests (resume sees the right bytes, then the cut)", async () => {
    proxy.addRule({ method: "GET", path: blobPath, times: 1, action: { kind: "cutResponse", afterBytes: 10 } });
    const r = await raw(`${proxy.url}${blobPath}`, { headers: { range: "bytes=5000-" } });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(blob.subarray(5000, 5010)));
    assert.ok(r.error);
  });

  it("cutRequest: forwards only N bytes of a PATCH body, then drops both sides", async () => {
    const start = await raw(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    const location = new URL(String(start.headers?.location), proxy.url);
    proxy.addRule({ method: "PATCH", times: 1, action: { kind: "cutRequest", afterBytes: 4096 } });
    const body = seededBytes("patch", 100_000);
    const r = await raw(location.toString(), {
      method: "PATCH",
      headers: { "content-type": "application/octet-stream", "content-length": String(body.length) },
      body,
    });
    assert.ok(r.error, "the client sees a failure");
    assert.equal(r.status, undefined, "no response arrived");
    // The registry kept what passed the proxy and nothing more: look at its upload file.
    const uuid = location.pathname.split("/").pop()!;
    const data = join(registry.storageDir, "docker/registry/v2/repositories", repo, "_uploads", uuid, "data");
    await new Promise((r) => setTimeout(r, 200));
    const size = (await stat(data)).size;
    assert.ok(size > 0 && size <= 4096, `registry holds ${size} bytes`);
  });

  it("stall: delays the answer by T ms", async () => {
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "stall", ms: 400 } });
    const r = await raw(`${proxy.url}${blobPath}`);
    assert.equal(r.status, 200);
    assert.ok(r.totalMs >= 380, `took ${r.totalMs} ms`);
    assert.ok(r.body.equals(blob));
  });

  it("stall with afterBytes: first bytes come at once, the rest after T ms", async () => {
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "stall", ms: 800, afterBytes: 100 } });
    const r = await raw(`${proxy.url}${blobPath}`);
    assert.ok(r.firstByteMs < 400, `first byte after ${r.firstByteMs} ms`);
    assert.ok(r.totalMs >= 780, `took ${r.totalMs} ms`);
    assert.ok(r.body.equals(blob));
  });

  it("redirect: sends blob GETs to another loopback server that records the headers it received", async () => {
    proxy.addRule({ method: "GET", path: /\/blobs\/sha256:/, times: 1, action: { kind: "redirect" } });
    const r = await raw(`${proxy.url}${blobPath}`, { headers: { "x-probe": "1" } });
    assert.equal(r.status, 307);
    const location = String(r.headers?.location);
    assert.ok(location.startsWith(proxy.redirectTarget.url), location);
    const n = proxy.redirectTarget.requests.length;
    const follow = await raw(location, { headers: { "x-followed": "yes" } });
    assert.equal(follow.status, 200);
    assert.ok(follow.body.equals(blob));
    assert.equal(proxy.redirectTarget.requests.length, n + 1);
    const seen = proxy.redirectTarget.requests[n]!;
    assert.equal(seen.headers["x-followed"], "yes");
    assert.equal(seen.headers["x-probe"], undefined);
  });

  it("replaceHeader: rewrites or removes Docker-Content-Digest", async () => {
    const fake = Digest.of("something else").toString();
    proxy.addRule({
      method: "GET",
      path: blobPath,
      times: 1,
      action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: fake },
    });
    proxy.addRule({
      method: "GET",
      path: blobPath,
      times: 1,
      action: { kind: "replaceHeader", name: "docker-content-digest", value: undefined },
    });
    const a = await raw(`${proxy.url}${blobPath}`);
    const b = await raw(`${proxy.url}${blobPath}`);
    const c = await raw(`${proxy.url}${blobPath}`);
    assert.equal(a.headers?.["docker-content-digest"], fake);
    assert.ok(a.body.equals(blob));
    assert.equal(b.headers?.["docker-content-digest"], undefined);
    assert.equal(c.headers?.["docker-content-digest"], digest);
  });

  it("replaceBody: replaces, lengthens and shortens with an honest Content-Length", async () => {
    const flip = (b: Buffer): Buffer => {
      const copy = Buffer.from(b);
      copy[0] = copy[0]! ^ 0xff;
      return copy;
    };
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "replaceBody", body: flip } });
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "replaceBody", body: (b) => Buffer.concat([b, Buffer.from("extra")]) } });
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "replaceBody", body: (b) => b.subarray(0, 10) } });
    const a = await raw(`${proxy.url}${blobPath}`);
    const b = await raw(`${proxy.url}${blobPath}`);
    const c = await raw(`${proxy.url}${blobPath}`);
    assert.equal(a.body.length, blob.length);
    assert.notEqual(Digest.of(a.body).toString(), digest);
    assert.equal(b.body.length, blob.length + 5);
    assert.equal(b.headers?.["content-length"], String(blob.length + 5));
    assert.equal(c.body.length, 10);
    assert.equal(a.error ?? b.error ?? c.error, undefined);
  });

  it("replaceBody with the original Content-Length: a shorter body ends early", async () => {
    proxy.addRule({ path: blobPath, times: 1, action: { kind: "replaceBody", body: (b) => b.subarray(0, 10), contentLength: "original" } });
    const r = await raw(`${proxy.url}${blobPath}`);
    assert.equal(r.headers?.["content-length"], String(blob.length));
    assert.equal(r.body.length, 10);
    assert.ok(r.error);
  });
});

describe("fault proxy in front of TLS and auth registries", () => {
  for (const mode of ["tls", "htpasswd"] as const) {
    it(`${mode}: plain HTTP on the proxy side, the upstream's scheme and auth behind it`, async () => {
      const registry = await startRegistry({ mode });
      const proxy = await startProxy(registry);
      const data = seededBytes(`behind-${mode}`, 5000);
      const d = Digest.of(data).toString();
      const client = new TestRegistryClient(proxy.target);
      await client.pushBlob("behind/proxy", d, data);
      const got = await client.getBlob("behind/proxy", d);
      await client.close();
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(data));
      assert.ok(proxy.url.startsWith("http://"));
      if (mode === "htpasswd")
        assert.ok(
          proxy.log.some((e) => e.status === 401),
          "the challenge came through",
        );
      await proxy.stop();
      await registry.stop();
    });
  }
});
