// Every fault of issue 3, injected by the harness's proxy between the registry
// transport and a real distribution registry (htpasswd mode, so requests carry
// an Authorization header that a redirect must not leak). Each test says what
// the proxy sends and what the transport must make of it.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, afterEach, before, describe, it } from "node:test";
import { exitCodeFor, isDrayError } from "../../../src/errors.js";
import { Digest } from "../../../src/oci/digest.js";
import type { Descriptor } from "../../../src/oci/manifest.js";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";
import {
  closeRegistryConnections,
  openRegistryDestination,
  openRegistrySource,
  type RegistryClientOptions,
} from "../../../src/transport/registry/index.js";
import type { ImageSource } from "../../../src/transport/types.js";
import { buildImage, pushImage, seededBytes, type BuiltImage } from "../../helpers/fixtures.js";
import { retryAfter, startProxy, type FaultProxy } from "../../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { descOf, isolateCredentials, readBlob } from "./support.js";

isolateCredentials();
after(() => closeRegistryConnections());

const REPO = "faults/img";

function loc(text: string): RegistryLocation {
  return parseLocation(text) as RegistryLocation;
}

/** Asserts a rejection is a DrayError with `code` and the CLI exit code `exit`. */
function rejectsWith(code: string, exit: number, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isDrayError(err), `expected a DrayError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(exitCodeFor(err), exit);
    if (message) assert.match(err.message, message);
    return true;
  };
}

function blobDesc(bytes: Buffer): Descriptor {
  return { mediaType: "application/octet-stream", digest: Digest.of(bytes), size: bytes.length };
}

describe("registry transport under injected faults", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let built: BuiltImage;
  let layer: Descriptor;
  let debug: string[];

  const options = (extra: Partial<RegistryClientOptions> = {}): RegistryClientOptions => ({
    creds: { username: reg.username!, password: reg.password! },
    debug: (l) => debug.push(l),
    ...extra,
  });
  const source = (extra: Partial<RegistryClientOptions> = {}, ref = "v1"): Promise<ImageSource> =>
    openRegistrySource(loc(`docker://${proxy.host}/${REPO}:${ref}`), options(extra));
  /** The next upload session is opened with OCI-Chunk-Min-Length: `min` (the registry asks for chunks). */
  const askForChunks = (min: number): void => {
    proxy.addRule({
      method: "POST",
      path: "/blobs/uploads/",
      times: 1,
      action: { kind: "replaceHeader", name: "OCI-Chunk-Min-Length", value: String(min) },
    });
  };
  const blobGets = (digest: Digest | string): typeof proxy.log =>
    proxy.log.filter((e) => e.method === "GET" && e.path.includes(`/blobs/${digest}`));

  before(async () => {
    reg = await startRegistry({ mode: "htpasswd" });
    proxy = await startProxy(reg);
    // One layer of 1.5 MiB: large enough for a streamed PATCH and for cuts part-way.
    built = await buildImage({ seed: "faults", layerSize: 1536 * 1024 });
    layer = descOf(built.layers[0]!);
    await pushImage(reg, REPO, "v1", built);
    // The run's first request learns the Basic challenge from a 401 (there is no /v2/ ping); the faults below are for the requests after it.
    await (await source()).getManifest();
    proxy.log.length = 0;
  });

  afterEach(() => {
    proxy.clearRules();
    proxy.log.length = 0;
    debug = [];
  });
  debug = [];

  it("blob GET cut after 100000 bytes: resumed with Range: bytes=100000- and a 206", async () => {
    proxy.addRule({ method: "GET", path: `/blobs/${layer.digest}`, times: 1, action: { kind: "cutResponse", afterBytes: 100_000 } });
    const bytes = await readBlob(await source(), layer);
    assert.deepEqual(bytes, built.layers[0]!.bytes);
    const gets = blobGets(layer.digest);
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.headers.range, undefined);
    assert.equal(gets[1]!.headers.range, "bytes=100000-");
    assert.equal(gets[1]!.status, 206);
  });

  // The stall outlasts any run (10 minutes), so a download that completes at all resumed on the idle
  // timeout: no clock is read; the test's own timeout turns a missed timeout into a failure, not a hang.
  it("blob GET whose body stops flowing: the idle timeout fires and the download resumes", { timeout: 120_000 }, async () => {
    proxy.addRule({ method: "GET", path: `/blobs/${layer.digest}`, times: 1, action: { kind: "stall", ms: 600_000, afterBytes: 65_536 } });
    const bytes = await readBlob(await source({ timeouts: { bodyMs: 400 } }), layer);
    assert.deepEqual(bytes, built.layers[0]!.bytes);
    const gets = blobGets(layer.digest);
    assert.equal(gets.length, 2);
    assert.match(String(gets[1]!.headers.range), /^bytes=\d+-$/);
  });

  it("blob GET cut on every attempt: a network error (exit 1) after a bounded number of attempts", async () => {
    proxy.addRule({ method: "GET", path: `/blobs/${layer.digest}`, action: { kind: "cutResponse", afterBytes: 50_000 } });
    await assert.rejects(readBlob(await source({ retries: 2 }), layer), rejectsWith("E_NETWORK", 1, /resume attempts/));
    assert.equal(blobGets(layer.digest).length, 3);
  });

  it("streamed upload (POST, then PUT with the body) cut after 200000 bytes: a clear network error (exit 1), nothing stored, a new putBlob succeeds", async () => {
    const bytes = seededBytes("patch-cut", 1_500_000);
    const desc = blobDesc(bytes);
    const target = loc(`docker://${proxy.host}/faults/upload:v1`);
    proxy.addRule({ method: "PUT", path: "/blobs/uploads/", times: 1, action: { kind: "cutRequest", afterBytes: 200_000 } });
    const dest = await openRegistryDestination(target, options());
    await assert.rejects(dest.putBlob(desc, Readable.from([bytes])), rejectsWith("E_NETWORK", 1, /interrupted.*cannot be replayed/));
    assert.equal(proxy.count("PATCH"), 0, "a blob of known size goes up in the closing PUT, without a PATCH");
    assert.equal(await (await openRegistryDestination(target, options())).hasBlob(desc), false);
    // What the copy engine does on such an error: open the source again and put the blob once more.
    await dest.putBlob(desc, Readable.from([bytes]));
    assert.equal(await (await openRegistryDestination(target, options())).hasBlob(desc), true);
  });

  it("monolithic PUT of a small blob cut after 1000 bytes: retried (on a fresh session) and stored", async () => {
    const bytes = seededBytes("put-cut", 20_000);
    const desc = blobDesc(bytes);
    const target = loc(`docker://${proxy.host}/faults/upload:v1`);
    proxy.addRule({ method: "PUT", path: "/blobs/uploads/", times: 1, action: { kind: "cutRequest", afterBytes: 1000 } });
    const dest = await openRegistryDestination(target, options());
    await dest.putBlob(desc, Readable.from([bytes]));
    assert.ok(proxy.count("PUT", "/blobs/uploads/") >= 2);
    const src = await openRegistrySource(target, options());
    assert.deepEqual(await readBlob(src, desc), bytes);
  });

  it("registry asks for chunks (OCI-Chunk-Min-Length: 262144 on the POST): Content-Range PATCHes of that size, then PUT", async () => {
    const bytes = seededBytes("chunk-min", 1_200_000);
    const desc = blobDesc(bytes);
    const target = loc(`docker://${proxy.host}/faults/chunked:v1`);
    askForChunks(262_144);
    await (await openRegistryDestination(target, options())).putBlob(desc, Readable.from([bytes]));
    const patches = proxy.log.filter((e) => e.method === "PATCH");
    assert.equal(patches.length, 5, "4 chunks of 256 KiB and the rest");
    assert.deepEqual(
      patches.map((p) => p.headers["content-range"]),
      ["0-262143", "262144-524287", "524288-786431", "786432-1048575", "1048576-1199999"],
    );
    assert.deepEqual(await readBlob(await openRegistrySource(target, options()), desc), bytes);
  });

  it("OCI-Chunk-Min-Length above 64 MiB (72 MiB on the POST) is honoured: 72 MiB chunks streamed from the source, never cut to 64 MiB", async () => {
    const min = 72 * 1024 * 1024;
    const bytes = seededBytes("chunk-min-72m", 80 * 1024 * 1024);
    const desc = blobDesc(bytes);
    const target = loc(`docker://${proxy.host}/faults/bigchunks:v1`);
    askForChunks(min);
    // Where the first PATCH stood when the source was asked for its 40th MiB: a buffered chunk would not have started.
    let patchesAt40MiB = -1;
    const data = Readable.from(
      (async function* () {
        for (let i = 0; i < bytes.length; i += 1024 * 1024) {
          if (i === 40 * 1024 * 1024) patchesAt40MiB = proxy.count("PATCH");
          yield bytes.subarray(i, i + 1024 * 1024);
        }
      })(),
    );
    await (await openRegistryDestination(target, options())).putBlob(desc, data);
    const patches = proxy.log.filter((e) => e.method === "PATCH");
    assert.deepEqual(
      patches.map((p) => [p.headers["content-range"], p.headers["content-length"]]),
      [
        [`0-${min - 1}`, String(min)],
        [`${min}-${bytes.length - 1}`, String(bytes.length - min)],
      ],
    );
    assert.equal(patchesAt40MiB, 1, "the first chunk was on its way while the source was still being read");
    assert.deepEqual(await readBlob(await openRegistrySource(target, options()), desc), bytes);
  });

  it("OCI-Chunk-Min-Length at least the blob's size: the whole blob is the one chunk, one streamed PUT", async () => {
    const bytes = seededBytes("chunk-min-whole", 3 * 1024 * 1024);
    const desc = blobDesc(bytes);
    const target = loc(`docker://${proxy.host}/faults/onechunk:v1`);
    askForChunks(100 * 1024 * 1024);
    await (await openRegistryDestination(target, options())).putBlob(desc, Readable.from([bytes]));
    assert.equal(proxy.count("PATCH"), 0);
    const puts = proxy.log.filter((e) => e.method === "PUT" && e.path.includes("/blobs/uploads/"));
    assert.deepEqual(
      puts.map((p) => p.headers["content-length"]),
      [String(bytes.length)],
    );
    assert.deepEqual(await readBlob(await openRegistrySource(target, options()), desc), bytes);
  });

  it("chunked upload (chunkSize option) whose third chunk is answered 416: asks the session where it stands and goes on", async () => {
    const bytes = seededBytes("chunk-416", 1_100_000);
    const desc = blobDesc(bytes);
    const target = loc(`docker://${proxy.host}/faults/chunked:v1`);
    const dest = await openRegistryDestination(target, options({ chunkSize: 300_000 }));
    const data = Readable.from(
      (async function* () {
        for (let i = 0; i < bytes.length; i += 100_000) {
          // Chunks 1 and 2 are sent by now: the third PATCH gets a 416 without reaching the registry.
          if (i === 600_000) proxy.addRule({ method: "PATCH", times: 1, action: { kind: "status", status: 416, body: "" } });
          yield bytes.subarray(i, i + 100_000);
        }
      })(),
    );
    await dest.putBlob(desc, data);
    const patches = proxy.log.filter((e) => e.method === "PATCH").length;
    assert.equal(patches, 5, "4 chunks and the one refused");
    const statusGets = proxy.log.filter((e) => e.method === "GET" && e.path.includes("/blobs/uploads/"));
    assert.equal(statusGets.length, 1);
    assert.deepEqual(await readBlob(await openRegistrySource(target, options()), desc), bytes);
  });

  it("429 with Retry-After: 1 on the manifest GET: waits about a second, then succeeds", async () => {
    proxy.addRule({ method: "GET", path: "/manifests/v1", times: 1, action: { kind: "status", status: 429, headers: retryAfter(1) } });
    const started = Date.now();
    const m = await (await source()).getManifest();
    assert.ok(Date.now() - started >= 900, `waited ${Date.now() - started} ms`);
    assert.deepEqual(m.bytes, built.manifest.bytes);
    assert.equal(proxy.count("GET", "/manifests/v1"), 2);
  });

  it("429 with Retry-After as an HTTP-date two seconds ahead: waits until then, then succeeds", async () => {
    const when = new Date(Date.now() + 2000);
    proxy.addRule({ method: "GET", path: "/manifests/v1", times: 1, action: { kind: "status", status: 429, headers: retryAfter(when) } });
    const m = await (await source()).getManifest();
    // The HTTP-date has whole seconds: at least the second boundary before `when` has passed.
    assert.ok(Date.now() >= Math.floor(when.getTime() / 1000) * 1000 - 50);
    assert.deepEqual(m.bytes, built.manifest.bytes);
  });

  it("503 twice on a blob GET: retried with backoff, third answer used", async () => {
    proxy.addRule({ method: "GET", path: `/blobs/${layer.digest}`, times: 2, action: { kind: "status", status: 503 } });
    assert.deepEqual(await readBlob(await source(), layer), built.layers[0]!.bytes);
    assert.equal(blobGets(layer.digest).length, 3);
  });

  it("500 more often than --retries 1 allows: a registry error (exit 1) after 2 attempts", async () => {
    proxy.addRule({ method: "GET", path: "/manifests/v1", action: { kind: "status", status: 500 } });
    await assert.rejects((await source({ retries: 1 })).getManifest(), rejectsWith("E_REGISTRY", 1, /HTTP 500|UNKNOWN/));
    assert.equal(proxy.count("GET", "/manifests/v1"), 2);
  });

  it("blob GET redirected (307) to another loopback port: followed, and that server sees no Authorization", async () => {
    proxy.addRule({ method: "GET", path: `/blobs/${layer.digest}`, times: 1, action: { kind: "redirect", status: 307 } });
    const before = proxy.redirectTarget.requests.length;
    assert.deepEqual(await readBlob(await source(), layer), built.layers[0]!.bytes);
    const atRegistry = blobGets(layer.digest)[0]!;
    assert.match(String(atRegistry.headers.authorization), /^Basic /, "the registry itself got the credential");
    const redirected = proxy.redirectTarget.requests.slice(before);
    assert.equal(redirected.length, 1);
    assert.equal(redirected[0]!.headers.authorization, undefined);
    assert.equal(redirected[0]!.headers.cookie, undefined);
  });

  it("wrong Docker-Content-Digest on a manifest GET by tag: integrity error (exit 5)", async () => {
    proxy.addRule({
      method: "GET",
      path: "/manifests/v1",
      action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: `sha256:${"0".repeat(64)}` },
    });
    await assert.rejects((await source()).getManifest(), rejectsWith("E_DIGEST_MISMATCH", 5, /Docker-Content-Digest/));
  });

  it("malformed Docker-Content-Digest on a manifest GET by tag: integrity error (exit 5)", async () => {
    proxy.addRule({
      method: "GET",
      path: "/manifests/v1",
      action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: "sha256:not-a-digest" },
    });
    await assert.rejects((await source()).getManifest(), rejectsWith("E_DIGEST_MISMATCH", 5, /invalid Docker-Content-Digest/));
  });

  it("manifest GET by digest whose bytes were altered: integrity error (exit 5)", async () => {
    const d = built.manifest.digest;
    proxy.addRule({
      method: "GET",
      path: `/manifests/${d}`,
      action: { kind: "replaceBody", body: (b) => Buffer.concat([b, Buffer.from(" ")]) },
    });
    const src = await source({}, "v1");
    await assert.rejects(src.getManifest(d), rejectsWith("E_DIGEST_MISMATCH", 5, /asked for/));
  });

  it("manifest of 5 MiB (over the 4 MiB cap): refused (exit 5) from its Content-Length", async () => {
    proxy.addRule({
      method: "GET",
      path: "/manifests/v1",
      action: { kind: "replaceBody", body: () => Buffer.alloc(5 * 1024 * 1024, 0x20) },
    });
    await assert.rejects((await source()).getManifest(), rejectsWith("E_TOO_LARGE", 5, /limit/));
  });

  it("blob body 10 bytes longer than its descriptor: size error (exit 5)", async () => {
    proxy.addRule({
      method: "GET",
      path: `/blobs/${layer.digest}`,
      action: { kind: "replaceBody", body: (b) => Buffer.concat([b, Buffer.alloc(10)]) },
    });
    await assert.rejects(readBlob(await source(), layer), rejectsWith("E_SIZE_MISMATCH", 5));
  });

  it("blob body 10 bytes shorter than its descriptor (Content-Length agreeing): size error (exit 5)", async () => {
    proxy.addRule({
      method: "GET",
      path: `/blobs/${layer.digest}`,
      action: { kind: "replaceBody", body: (b) => b.subarray(0, b.length - 10) },
    });
    await assert.rejects(readBlob(await source(), layer), rejectsWith("E_SIZE_MISMATCH", 5));
  });

  it("blob body ending before its own Content-Length (early close): treated as a cut and resumed", async () => {
    proxy.addRule({
      method: "GET",
      path: `/blobs/${layer.digest}`,
      times: 1,
      action: { kind: "replaceBody", body: (b) => b.subarray(0, 700_000), contentLength: "original" },
    });
    assert.deepEqual(await readBlob(await source(), layer), built.layers[0]!.bytes);
    assert.equal(blobGets(layer.digest)[1]?.headers.range, "bytes=700000-");
  });

  it("blob body of the right size with one byte changed: the verifying reader fails it (exit 5)", async () => {
    proxy.addRule({
      method: "GET",
      path: `/blobs/${layer.digest}`,
      action: {
        kind: "replaceBody",
        body: (b) => {
          const c = Buffer.from(b);
          c[1000] = c[1000]! ^ 0xff;
          return c;
        },
      },
    });
    await assert.rejects(readBlob(await source(), layer), rejectsWith("E_DIGEST_MISMATCH", 5));
  });

  it("manifest PUT answered DIGEST_INVALID once (distribution's race on a blob link file): asked again, stored", async () => {
    const digestInvalid = JSON.stringify({
      errors: [{ code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" }],
    });
    proxy.addRule({
      method: "PUT",
      path: "/manifests/again",
      times: 1,
      action: { kind: "status", status: 400, body: digestInvalid, headers: { "content-type": "application/json" } },
    });
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:again`), options());
    await dest.putManifest(built.manifest, { isTop: true });
    assert.equal(proxy.count("PUT", "/manifests/again"), 2);
    const back = await (await source({}, "again")).getManifest();
    assert.ok(back.digest.equals(built.manifest.digest));
  });

  it("manifest PUT answered DIGEST_INVALID every time: integrity error (exit 5) after 3 PUTs", async () => {
    const digestInvalid = JSON.stringify({
      errors: [{ code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" }],
    });
    proxy.addRule({
      method: "PUT",
      path: "/manifests/never",
      action: { kind: "status", status: 400, body: digestInvalid, headers: { "content-type": "application/json" } },
    });
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:never`), options());
    await assert.rejects(dest.putManifest(built.manifest, { isTop: true }), rejectsWith("E_DIGEST_MISMATCH", 5, /DIGEST_INVALID/));
    assert.equal(proxy.count("PUT", "/manifests/never"), 3);
  });

  it("manifest PUT answered 500 UNKNOWN twice (a server in trouble): asked again, stored on the third PUT", async () => {
    proxy.addRule({ method: "PUT", path: "/manifests/flaky", times: 2, action: { kind: "status", status: 500 } });
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:flaky`), options());
    await dest.putManifest(built.manifest, { isTop: true });
    assert.equal(proxy.count("PUT", "/manifests/flaky"), 3);
  });

  it("manifest PUT answered 500 DENIED (a vendor's verdict in a 5xx): one PUT, the registry's words, exit 4", async () => {
    const denied = JSON.stringify({ errors: [{ code: "DENIED", message: "pushing to this repository is not allowed" }] });
    proxy.addRule({ method: "PUT", path: "/manifests/denied", action: { kind: "status", status: 500, body: denied } });
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:denied`), options());
    await assert.rejects(
      dest.putManifest(built.manifest, { isTop: true }),
      rejectsWith("E_AUTH_DENIED", 4, /pushing to this repository is not allowed \(DENIED\) \(HTTP 500\)$/),
    );
    assert.equal(proxy.count("PUT", "/manifests/denied"), 1);
  });

  it("manifest PUT answered 500 DENIED in a body past the 64 KiB read (a 70 KiB detail): still one PUT, exit 4", async () => {
    const denied = JSON.stringify({
      errors: [{ code: "DENIED", message: "pushing to this repository is not allowed", detail: "x".repeat(70 * 1024) }],
    });
    proxy.addRule({ method: "PUT", path: "/manifests/denied-big", action: { kind: "status", status: 500, body: denied } });
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:denied-big`), options());
    await assert.rejects(
      dest.putManifest(built.manifest, { isTop: true }),
      rejectsWith("E_AUTH_DENIED", 4, /pushing to this repository is not allowed \(DENIED\) \(HTTP 500\)$/),
    );
    assert.equal(proxy.count("PUT", "/manifests/denied-big"), 1);
  });

  it("manifest PUT answered 500 DENIED whose detail nests 60000 arrays deep (whole, or cut at 64 KiB): one PUT, exit 4, no stack overflow", async () => {
    const head = '{"errors":[{"code":"DENIED","message":"pushing to this repository is not allowed","detail":';
    const nested = 60_000;
    for (const [tag, body] of [
      ["denied-deep", head + "[".repeat(nested) + "]".repeat(nested) + "}]}"],
      ["denied-deep-cut", head + "[".repeat(70 * 1024)],
    ] as const) {
      proxy.addRule({ method: "PUT", path: `/manifests/${tag}`, action: { kind: "status", status: 500, body } });
      const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:${tag}`), options());
      await assert.rejects(
        dest.putManifest(built.manifest, { isTop: true }),
        rejectsWith("E_AUTH_DENIED", 4, /pushing to this repository is not allowed \(DENIED\) \(HTTP 500\)$/),
      );
      assert.equal(proxy.count("PUT", `/manifests/${tag}`), 1, tag);
    }
  });

  it("tag PUT answered 500 TAG_INVALID where the tag names another manifest: one PUT, said to be immutable", async () => {
    const other = await buildImage({ seed: "faults-immutable" });
    await pushImage(reg, REPO, "fixed", other);
    const tagInvalid = JSON.stringify({ errors: [{ code: "TAG_INVALID", message: "the tag fixed is immutable" }] });
    proxy.addRule({ method: "PUT", path: "/manifests/fixed", action: { kind: "status", status: 500, body: tagInvalid } });
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/${REPO}:fixed`), options());
    await assert.rejects(
      dest.putManifest(built.manifest, { isTop: true }),
      rejectsWith("E_REGISTRY", 1, new RegExp(`tag fixed at .* is immutable: it names ${other.manifest.digest}.*\\(TAG_INVALID\\)`)),
    );
    assert.equal(proxy.count("PUT", "/manifests/fixed"), 1);
  });

  it("aborting a download mid-body ends the stream with the abort reason", { timeout: 120_000 }, async () => {
    proxy.addRule({ method: "GET", path: `/blobs/${layer.digest}`, times: 1, action: { kind: "stall", ms: 600_000, afterBytes: 65_536 } });
    const ac = new AbortController();
    const stream = await (await source()).getBlob(layer, { signal: ac.signal });
    const reason = new Error("user interrupt");
    setTimeout(() => ac.abort(reason), 100);
    await assert.rejects(
      (async () => {
        for await (const _ of stream) void _;
      })(),
      (err: unknown) => err === reason,
    );
  });

  it("aborting a streamed upload cancels the registry's session (DELETE) and surfaces the abort reason", async () => {
    const bytes = seededBytes("abort-upload", 1_500_000);
    const desc = blobDesc(bytes);
    const ac = new AbortController();
    const reason = new Error("user interrupt");
    const slow = Readable.from(
      (async function* () {
        for (let i = 0; i < bytes.length; i += 100_000) {
          if (i === 300_000) ac.abort(reason);
          yield bytes.subarray(i, i + 100_000);
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
    );
    const target = loc(`docker://${proxy.host}/faults/aborted:v1`);
    const dest = await openRegistryDestination(target, options());
    await assert.rejects(dest.putBlob(desc, slow, { signal: ac.signal }), (err: unknown) => err === reason);
    assert.equal(proxy.count("DELETE", "/blobs/uploads/"), 1);
    assert.equal(await (await openRegistryDestination(target, options())).hasBlob(desc), false);
  });

  it("a small blob whose source read fails after the upload POST: the session the POST opened is cancelled (DELETE)", async () => {
    const bytes = seededBytes("small-read-fails", 200_000);
    const desc = blobDesc(bytes);
    const broken = Readable.from(
      (async function* () {
        yield bytes.subarray(0, 50_000);
        // The POST goes out beside the read; the read fails only once it has been answered.
        while (proxy.count("POST", "/faults/small-broken/blobs/uploads/") === 0) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, 50));
        throw new Error("source went away");
      })(),
    );
    const dest = await openRegistryDestination(loc(`docker://${proxy.host}/faults/small-broken:v1`), options());
    await assert.rejects(dest.putBlob(desc, broken, {}), /source went away/);
    assert.equal(proxy.count("DELETE", "/faults/small-broken/blobs/uploads/"), 1);
    assert.equal(proxy.count("PUT", "/faults/small-broken/blobs/uploads/"), 0);
  });

  it("--debug lines name method, URL and status, never the credential", async () => {
    await (await source()).getManifest();
    assert.ok(
      debug.some((l) => /^GET http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/img\/manifests\/v1 -> 200 \(\d+ ms\)$/.test(l)),
      debug.join("\n"),
    );
    const secret = reg.basicAuth!.slice("Basic ".length);
    assert.ok(debug.every((l) => !l.includes(secret) && !l.includes(reg.password!)));
  });
});
