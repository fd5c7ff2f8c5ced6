// The pure helpers of the registry transport: Link headers, Retry-After and
// backoff, scope merging, URL redaction for --debug, error-body mapping.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exitCodeFor } from "../../../src/errors.js";
import { errorFor, parseErrorBody } from "../../../src/transport/registry/errors.js";
import { nextPageURL, parseLinkHeader } from "../../../src/transport/registry/http/link.js";
import { redactURL } from "../../../src/transport/registry/http/redact.js";
import { MAX_RETRY_DELAY_MS, parseRetryAfter, retryDelayMs } from "../../../src/transport/registry/http/retry.js";
import { mergeScopes, scopesCover } from "../../../src/transport/registry/scope.js";
import { decideRealm } from "../../../src/auth/realm-policy.js";
import { manifestMediaType } from "../../../src/transport/registry/manifests.js";
import { uploadLocation } from "../../../src/transport/registry/blobs.js";
import { chunkPlan } from "../../../src/transport/registry/upload.js";

describe("Link pagination", () => {
  it("parses rel=next, quoted or not, among other links", () => {
    assert.deepEqual(parseLinkHeader('</v2/_catalog?last=b&n=2>; rel="next"'), [{ target: "/v2/_catalog?last=b&n=2", rel: ["next"] }]);
    assert.deepEqual(
      parseLinkHeader('<https://x/a>; rel=prev, <https://x/b>; title="t"; rel=next').map((l) => l.rel),
      [["prev"], ["next"]],
    );
  });
  it("resolves relative links against the page and ignores links to other origins", () => {
    const cur = new URL("http://127.0.0.1:5000/v2/_catalog?n=2");
    assert.equal(
      nextPageURL({ link: '</v2/_catalog?last=b&n=2>; rel="next"' }, cur)?.toString(),
      "http://127.0.0.1:5000/v2/_catalog?last=b&n=2",
    );
    assert.equal(nextPageURL({ link: '<http://evil.example/v2/_catalog>; rel="next"' }, cur), undefined);
    assert.equal(nextPageURL({}, cur), undefined);
  });
});

describe("retry timing", () => {
  it("reads Retry-After as seconds or an HTTP-date, and caps it", () => {
    const now = Date.parse("2024-01-01T00:00:00Z");
    assert.equal(parseRetryAfter("3", now), 3000);
    assert.equal(parseRetryAfter("Mon, 01 Jan 2024 00:00:05 GMT", now), 5000);
    assert.equal(parseRetryAfter("Sun, 31 Dec 2023 23:59:00 GMT", now), 0);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(retryDelayMs(1, "3600", now), MAX_RETRY_DELAY_MS);
  });
  it("backs off exponentially with jitter inside [ceiling/2, ceiling]", () => {
    for (const [attempt, ceiling] of [
      [1, 200],
      [2, 400],
      [3, 800],
      [20, MAX_RETRY_DELAY_MS],
    ] as const) {
      assert.equal(
        retryDelayMs(attempt, undefined, 0, () => 0),
        ceiling / 2,
      );
      assert.equal(
        retryDelayMs(attempt, undefined, 0, () => 1),
        ceiling,
      );
    }
  });
});

describe("scopes", () => {
  it("merges actions per resource and sorts", () => {
    assert.deepEqual(mergeScopes(["repository:a:push"], ["repository:a:pull", "repository:b:pull"]), [
      "repository:a:pull,push",
      "repository:b:pull",
    ]);
    assert.deepEqual(mergeScopes(["registry:catalog:*"]), ["registry:catalog:*"]);
    // The destination first (a mount's push scope), whatever the names' order: some token services read the first scope only.
    assert.deepEqual(mergeScopes(["repository:zz/dest:push,pull", "repository:aa/src:pull"]), [
      "repository:zz/dest:pull,push",
      "repository:aa/src:pull",
    ]);
  });
  it("knows when a token's scopes cover a request", () => {
    assert.equal(scopesCover(["repository:a:pull,push"], ["repository:a:pull"]), true);
    assert.equal(scopesCover(["repository:a:pull"], ["repository:a:pull,push"]), false);
    assert.equal(scopesCover(["repository:a:pull,push"], ["repository:b:pull"]), false);
  });
});

describe("realm policy: where a registry's credential may go", () => {
  const send = (registry: string, realm: string, trusted: string[] = [], insecure = false): boolean =>
    decideRealm({ registry, realm: new URL(realm), trusted, insecure }).send;
  it("same host, same registrable domain (self-hosted GitLab, DigitalOcean), Docker Hub's family", () => {
    assert.equal(send("127.0.0.1:5000", "http://127.0.0.1:5000/token"), true);
    assert.equal(send("registry.example.com", "https://registry.example.com/token"), true);
    assert.equal(send("registry.gitlab.com", "https://gitlab.com/jwt/auth"), true);
    assert.equal(send("registry.example.com", "https://gitlab.example.com/jwt/auth"), true);
    assert.equal(send("registry.digitalocean.com", "https://api.digitalocean.com/v2/registry/auth"), true);
    assert.equal(send("docker.io", "https://auth.docker.io/token"), true);
    assert.equal(send("registry-1.docker.io", "https://auth.docker.io/token"), true);
    assert.equal(
      send("registry.example.test", "https://auth.example.test/token"),
      true,
      "a TLD the list lacks: one site per second-level name",
    );
  });
  it("keeps tenants of multi-tenant suffixes apart and refuses unrelated sites unless trusted", () => {
    assert.equal(send("alice.github.io", "https://mallory.github.io/token"), false);
    assert.equal(send("registry.example.org", "https://evil.example/token"), false);
    assert.equal(send("notgitlab.com", "https://gitlab.com/jwt/auth"), false);
    assert.equal(send("localhost:5000", "http://127.0.0.1:5001/token"), false);
    assert.equal(send("registry.example.test", "https://auth.other.test/token"), false);
    assert.equal(send("registry.example.test", "https://auth.other.test/token", ["auth.other.test"]), true);
    assert.equal(send("registry.example.test", "https://auth.other.test:8443/token", ["auth.other.test:8443"]), true);
    assert.equal(send("registry.example.test", "https://auth.other.test:8443/token", ["auth.other.test:9443"]), false);
  });
  it("another port of the same host: only over verified HTTPS, else trusted by --trust-realm (issue 26 item 6)", () => {
    assert.equal(send("127.0.0.1:5000", "http://127.0.0.1:5001/token"), false, "plain HTTP: any local user may listen there");
    assert.equal(send("127.0.0.1:5000", "http://127.0.0.1:5001/token", ["127.0.0.1:5001"]), true);
    assert.equal(send("127.0.0.1:5000", "http://127.0.0.1:5001/token", ["127.0.0.1:5002"]), false);
    assert.equal(send("registry.example.com:5000", "https://registry.example.com:5001/auth"), true, "verified HTTPS");
    assert.equal(send("registry.example.com:5000", "https://registry.example.com:5001/auth", [], true), false, "--insecure: not verified");
    assert.equal(send("registry.example.com", "https://registry.example.com:443/token"), true);
    assert.equal(
      decideRealm({ registry: "127.0.0.1:5000", realm: new URL("http://127.0.0.1:5001/t"), trusted: [], insecure: false }).because,
      "other-port",
    );
  });
  it("compares Unicode host names in their ASCII (punycode) form", () => {
    assert.equal(send("xn--rksmrgs-5wao1o.example", "https://räksmörgås.example/token"), true);
    assert.equal(send("räksmörgås.example", "https://xn--rksmrgs-5wao1o.example/token"), true);
    assert.equal(send("registry.example.test", "https://xn--rksmrgs-5wao1o.example/token", ["räksmörgås.example"]), true);
    assert.equal(send("registry.räksmörgås.se", "https://auth.xn--rksmrgs-5wao1o.se/token"), true, "one registrable domain");
    assert.equal(send("registry.example.test", "https://xn--rksmrgs-5wao1o.example/token", ["raksmorgas.example"]), false);
  });
  it("gives a plain-HTTP realm nothing off loopback without --insecure, even when trusted", () => {
    assert.equal(send("registry.example.com", "http://auth.example.com/token"), false);
    assert.equal(send("registry.example.com", "http://auth.example.com/token", [], true), true);
    assert.equal(send("registry.example.test", "http://auth.other.test/token", ["auth.other.test"]), false);
  });
});

describe("--debug URL redaction", () => {
  it("keeps paths and harmless parameters, hides signatures, upload state and user-info", () => {
    const u = redactURL("https://user:pw@s3.example/bucket/blob?X-Amz-Signature=abc&X-Amz-Credential=k&n=10&digest=sha256%3Aab");
    assert.ok(!u.includes("abc") && !u.includes("pw") && !u.includes("user"));
    assert.match(u, /n=10/);
    assert.match(u, /digest=sha256%3Aab/);
    assert.match(redactURL("http://h/v2/r/blobs/uploads/x?_state=SECRET"), /_state=REDACTED/);
  });
});

describe("registry error bodies", () => {
  it("maps the spec's codes to dray's exit codes", () => {
    const ctx = { what: "manifest v1", where: "docker://h/r:v1" };
    const cases: Array<[number, string, number]> = [
      [404, "MANIFEST_UNKNOWN", 3],
      [404, "BLOB_UNKNOWN", 3],
      [404, "NAME_UNKNOWN", 3],
      [401, "UNAUTHORIZED", 4],
      [403, "DENIED", 4],
      [400, "DIGEST_INVALID", 5],
      [400, "SIZE_INVALID", 5],
      [400, "MANIFEST_INVALID", 5],
      [405, "UNSUPPORTED", 1],
      [429, "TOOMANYREQUESTS", 1],
    ];
    for (const [status, code, exit] of cases) {
      const err = errorFor(status, parseErrorBody(Buffer.from(JSON.stringify({ errors: [{ code, message: "m", detail: {} }] }))), ctx);
      assert.equal(exitCodeFor(err), exit, code);
      assert.equal(err.registryCode, code);
      assert.match(err.message, new RegExp(`\\(${code}\\)`));
    }
    assert.equal(exitCodeFor(errorFor(404, parseErrorBody(Buffer.from("<html>")), ctx)), 3);
    assert.equal(exitCodeFor(errorFor(502, [], ctx)), 1);
  });
  it("shows the registry's own text, detail and status behind distribution's 'unknown error' (issue 27 item 25)", () => {
    // docker-registry 2.8's answer, verbatim, to the PUT of a schema 2 manifest whose foreign layer has a file:// URL.
    const body =
      '{"errors":[{"code":"UNKNOWN","message":"unknown error"},{"code":"UNKNOWN","message":"unknown error","detail":{}},' +
      '{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}]}';
    const err = errorFor(500, parseErrorBody(Buffer.from(body)), { what: "manifest v1", where: "docker://h/r:v1" });
    assert.equal(err.registryCode, "MANIFEST_BLOB_UNKNOWN");
    assert.equal(exitCodeFor(err), 5);
    assert.equal(
      err.message,
      "manifest rejected by the registry: manifest v1 at docker://h/r:v1: blob unknown to registry (MANIFEST_BLOB_UNKNOWN): " +
        "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881; unknown error (UNKNOWN) (HTTP 500)",
    );
    // Quay's shape: the message generic, the reason in an object detail.
    const quay = '{"errors":[{"code":"MANIFEST_INVALID","detail":{"message":"manifest data is not v2.2"},"message":"manifest invalid"}]}';
    assert.match(
      errorFor(400, parseErrorBody(Buffer.from(quay)), { what: "m", where: "w" }).message,
      /manifest invalid \(MANIFEST_INVALID\): \{"message":"manifest data is not v2.2"\} \(HTTP 400\)$/,
    );
  });
  it("strips control characters from registry messages", () => {
    const [e] = parseErrorBody(Buffer.from(JSON.stringify({ errors: [{ code: "denied", message: "a\u001b[31mb\nc" }] })));
    assert.equal(e?.code, "DENIED");
    // eslint-disable-next-line no-control-regex -- terminal escapes and control characters are what this checks
    assert.ok(!/[\u0000-\u001f]/.test(e?.message ?? ""));
  });
});

describe("manifest media type", () => {
  it("takes a known Content-Type, else the document's field, else its shape", () => {
    const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] }));
    assert.equal(
      manifestMediaType("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8", doc),
      "application/vnd.docker.distribution.manifest.v2+json",
    );
    assert.equal(manifestMediaType("application/json", doc), "application/vnd.oci.image.index.v1+json");
    assert.equal(
      manifestMediaType(undefined, Buffer.from('{"schemaVersion":2,"manifests":[]}')),
      "application/vnd.oci.image.index.v1+json",
    );
  });
});

describe("upload Location", () => {
  const https = new URL("https://registry.example.test/v2/");
  const at = (location: string, registry = https): string =>
    uploadLocation(location, new URL("https://registry.example.test/v2/lib/app/blobs/uploads/"), registry).toString();

  it("resolves a relative Location against the request it answered", () => {
    assert.equal(at("/v2/lib/app/blobs/uploads/u1?_state=s"), "https://registry.example.test/v2/lib/app/blobs/uploads/u1?_state=s");
    assert.equal(at("u2"), "https://registry.example.test/v2/lib/app/blobs/uploads/u2");
  });

  it("an https registry's own host named with http:// (distribution/distribution#479) is asked over https, on the registry's port", () => {
    assert.equal(
      at("http://registry.example.test/v2/lib/app/blobs/uploads/u1"),
      "https://registry.example.test/v2/lib/app/blobs/uploads/u1",
    );
    const onPort = new URL("https://registry.example.test:5000/v2/");
    assert.equal(
      at("http://registry.example.test:5000/v2/lib/app/blobs/uploads/u1", onPort),
      "https://registry.example.test:5000/v2/lib/app/blobs/uploads/u1",
    );
    assert.equal(at("http://registry.example.test/v2/x", onPort), "https://registry.example.test:5000/v2/x");
  });

  it("another port, another host, or a plain-http registry: followed as given", () => {
    assert.equal(at("http://registry.example.test:8080/v2/x"), "http://registry.example.test:8080/v2/x");
    assert.equal(at("https://uploads.storage.test/bucket/x?sig=1"), "https://uploads.storage.test/bucket/x?sig=1");
    assert.equal(at("http://uploads.storage.test/x"), "http://uploads.storage.test/x");
    assert.equal(at("http://registry.example.test/v2/x", new URL("http://registry.example.test/v2/")), "http://registry.example.test/v2/x");
  });
});

describe("chunk plan (OCI-Chunk-Min-Length)", () => {
  const MiB = 1024 * 1024;
  it("the registry's minimum is never cut down; only the caller's chunkSize is capped to 64 MiB", () => {
    assert.deepEqual(chunkPlan(200 * MiB, 72 * MiB, undefined), { kind: "streamed-chunks", size: 72 * MiB });
    assert.deepEqual(chunkPlan(200 * MiB, 0, 500 * MiB), { kind: "buffered-chunks", size: 64 * MiB });
    assert.deepEqual(chunkPlan(200 * MiB, 256 * 1024, 5 * MiB), { kind: "buffered-chunks", size: 5 * MiB });
  });
  it("a minimum as large as the blob is one streamed PUT; unknown size with a huge minimum is one streamed PATCH", () => {
    assert.deepEqual(chunkPlan(3 * MiB, 100 * MiB, undefined), { kind: "put-stream" });
    assert.deepEqual(chunkPlan(-1, 100 * MiB, undefined), { kind: "patch-stream" });
    assert.deepEqual(chunkPlan(3 * MiB, 0, undefined), { kind: "put-stream" });
    assert.deepEqual(chunkPlan(-1, 0, undefined), { kind: "patch-stream" });
  });
});
