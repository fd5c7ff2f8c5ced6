// Lies: the proxy in front of a real registry rewrites what it answers
// (digest headers, blob bytes, sizes, manifests, media types, a token
// endpoint). Each lie must be refused with the integrity exit code (5), or
// the code its kind calls for, and nothing may be written: no tag in the
// destination registry, no entry in the destination layout, and no blob file
// holding the lie.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { buildIndex, pushImage, type BuiltIndex } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { startProxy, type FaultProxy, type ProxyRule } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir, onCleanup } from "../helpers/tmp.js";
import {
  addSecret,
  assertBlobsIntact,
  assertNoSecretsPrinted,
  caseIt,
  credsOf,
  lastLine,
  layoutState,
  registryTags,
  run,
  slug,
  startResults,
} from "./support.js";

startResults(import.meta.url);

interface World {
  src: RegistryHandle;
  dst: RegistryHandle;
  pSrc: FaultProxy;
  pDst: FaultProxy;
  img: BuiltIndex;
  /** An index of indexes, nested deeper than any real image. */
  deep: { top: Digest; depth: number };
  credsSrc: string;
  credsDst: string;
  tokenReg: RegistryHandle;
  pToken: FaultProxy;
  garbage: GarbageTokenServer;
}

interface LieCase {
  name: string;
  sent: string;
  /** Which proxy lies: the source's (what dray reads) or the destination's (what it is told after writing). */
  side?: "src" | "dst";
  /** Where dray copies to (default an OCI layout). */
  dest?: "oci" | "registry";
  /** Source reference (default src/img:v1 through the source proxy). */
  source?: (w: World) => string;
  rules: (w: World) => ProxyRule[];
  code: number;
  message: RegExp;
  /** Bytes that must not appear as a blob at the destination (the lie itself). */
  lie?: (w: World) => Digest | undefined;
  before?: (w: World) => void;
}

const w = {} as World;
let workDir: string;

const OCI_JSON = (doc: unknown): Buffer => Buffer.from(JSON.stringify(doc));
const digestHeader = (body: Buffer): Record<string, string> => ({ "docker-content-digest": Digest.of(body).toString() });
const layer = (): { digest: Digest; size: number; bytes: Buffer } => w.img.images[0]!.layers[0]!;

/** Rewrites the first (amd64) image manifest's JSON as the registry serves it, with a matching Docker-Content-Digest. */
function rewriteChild(edit: (doc: Record<string, unknown>) => Record<string, unknown>): (w: World) => ProxyRule[] {
  return (w) => [
    {
      method: "GET",
      path: `/manifests/${w.img.images[0]!.manifest.digest}`,
      action: {
        kind: "replaceBody",
        body: (b) => OCI_JSON(edit(JSON.parse(b.toString()) as Record<string, unknown>)),
        headers: digestHeader,
      },
    },
  ];
}

/** Rewrites the top index's JSON (served for the tag) with a matching Docker-Content-Digest. */
function rewriteTop(edit: (doc: Record<string, unknown>) => Record<string, unknown>): (w: World) => ProxyRule[] {
  return () => [
    {
      method: "GET",
      path: "/manifests/v1",
      action: {
        kind: "replaceBody",
        body: (b) => OCI_JSON(edit(JSON.parse(b.toString()) as Record<string, unknown>)),
        headers: digestHeader,
      },
    },
  ];
}

/** Rewrites the single-platform image served for src/single:v1 (fetched by tag, so only the digest header vouches for it). */
function rewriteSingle(edit: (doc: Record<string, unknown>) => Record<string, unknown>): (w: World) => ProxyRule[] {
  return () => [
    {
      method: "GET",
      path: "/single/manifests/v1",
      action: {
        kind: "replaceBody",
        body: (b) => OCI_JSON(edit(JSON.parse(b.toString()) as Record<string, unknown>)),
        headers: digestHeader,
      },
    },
  ];
}

const single = (w: World): string => `docker://${w.pSrc.host}/src/single:v1`;

function withLayerDigest(digest: string): (doc: Record<string, unknown>) => Record<string, unknown> {
  return (doc) => {
    const layers = doc.layers as Array<Record<string, unknown>>;
    return { ...doc, layers: [{ ...layers[0], digest }, ...layers.slice(1)] };
  };
}

const flipByte = (b: Buffer): Buffer => {
  const out = Buffer.from(b);
  out[out.length >> 1] = out[out.length >> 1]! ^ 0xff;
  return out;
};

const CASES: LieCase[] = [
  {
    name: "wrong Docker-Content-Digest on the tagged manifest",
    sent: "the index's bytes with Docker-Content-Digest of other bytes",
    rules: () => [
      {
        method: "GET",
        path: "/manifests/v1",
        action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: Digest.of("other bytes").toString() },
      },
    ],
    code: 5,
    message: /digest mismatch/,
  },
  {
    name: "Docker-Content-Digest that is not a digest (sha256:../../x)",
    sent: "Docker-Content-Digest: sha256:../../x on the tagged manifest",
    rules: () => [
      { method: "GET", path: "/manifests/v1", action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: "sha256:../../x" } },
    ],
    code: 5,
    message: /invalid Docker-Content-Digest/,
  },
  {
    name: "child manifest bytes differ from the digest the index names",
    sent: "for the amd64 manifest, other valid manifest bytes with a matching Docker-Content-Digest",
    rules: rewriteChild((doc) => ({ ...doc, annotations: { "org.example.lie": "yes" } })),
    code: 5,
    message: /digest mismatch|sha256:/,
  },
  {
    name: "layer bytes differ from the layer digest (same size)",
    sent: "the layer with one byte flipped, honest Content-Length",
    rules: () => [{ method: "GET", path: layer().digest.toString(), action: { kind: "replaceBody", body: flipByte } }],
    code: 5,
    message: /digest/,
    lie: () => Digest.of(flipByte(layer().bytes)),
  },
  {
    name: "layer bytes differ from the layer digest, into a registry",
    sent: "the layer with one byte flipped; destination is a registry",
    dest: "registry",
    rules: () => [{ method: "GET", path: layer().digest.toString(), action: { kind: "replaceBody", body: flipByte } }],
    code: 5,
    message: /digest/,
  },
  {
    name: "config bytes differ from the config digest",
    sent: "the amd64 config with one byte flipped",
    rules: (w) => [{ method: "GET", path: w.img.images[0]!.config.digest.toString(), action: { kind: "replaceBody", body: flipByte } }],
    code: 5,
    message: /digest/,
  },
  {
    name: "layer body longer than its descriptor",
    sent: "the layer plus 100 bytes, Content-Length matching the longer body",
    rules: () => [
      {
        method: "GET",
        path: layer().digest.toString(),
        action: { kind: "replaceBody", body: (b) => Buffer.concat([b, Buffer.alloc(100, 7)]) },
      },
    ],
    code: 5,
    message: /size/,
  },
  {
    name: "layer body shorter than its descriptor",
    sent: "the layer minus its last 100 bytes, Content-Length matching the shorter body",
    rules: () => [
      { method: "GET", path: layer().digest.toString(), action: { kind: "replaceBody", body: (b) => b.subarray(0, b.length - 100) } },
    ],
    code: 5,
    message: /size/,
  },
  {
    name: "tagged manifest over the 4 MiB cap",
    sent: "a 5 MiB index (valid JSON, padded annotation) with a matching Docker-Content-Digest",
    rules: rewriteTop((doc) => ({ ...doc, annotations: { pad: "x".repeat(5 * 1024 * 1024) } })),
    code: 5,
    message: /limit|too large|exceeds/i,
  },
  {
    name: "child manifest over the 4 MiB cap",
    sent: "the amd64 manifest padded to 5 MiB",
    rules: rewriteChild((doc) => ({ ...doc, annotations: { pad: "x".repeat(5 * 1024 * 1024) } })),
    code: 5,
    message: /limit|too large|exceeds|digest/i,
  },
  {
    name: "Content-Type says image manifest, the document is an index",
    sent: "the index with Content-Type: application/vnd.oci.image.manifest.v1+json",
    rules: () => [
      { method: "GET", path: "/manifests/v1", action: { kind: "replaceHeader", name: "Content-Type", value: MediaType.OciManifest } },
    ],
    code: 5,
    message: /media ?type|mediaType|manifest/i,
  },
  {
    name: "Content-Type says Docker manifest list, the document says OCI index",
    sent: "the OCI index with Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
    rules: () => [
      {
        method: "GET",
        path: "/manifests/v1",
        action: { kind: "replaceHeader", name: "Content-Type", value: MediaType.DockerManifestList },
      },
    ],
    code: 5,
    message: /media ?type|mediaType/i,
  },
  {
    name: "mediaType says image manifest, the shape is an index",
    sent: 'the index with "mediaType": image manifest (and a matching digest header)',
    rules: rewriteTop((doc) => ({ ...doc, mediaType: MediaType.OciManifest })),
    code: 5,
    message: /manifest|mediaType|media type/i,
  },
  {
    name: "mediaType says index, the shape is an image manifest",
    sent: 'a single-platform image manifest, served for its tag, with "mediaType": image index',
    source: single,
    rules: rewriteSingle((doc) => ({ ...doc, mediaType: MediaType.OciIndex })),
    code: 5,
    message: /manifest|mediaType|media type|digest/i,
  },
  {
    name: "an index that refers to itself",
    sent: "for the amd64 child, the parent index's own bytes (Docker-Content-Digest claims the child's digest)",
    rules: (w) => [
      {
        method: "GET",
        path: `/manifests/${w.img.images[0]!.manifest.digest}`,
        action: {
          kind: "replaceBody",
          body: () => w.img.manifest.bytes,
          headers: () => ({ "docker-content-digest": w.img.images[0]!.manifest.digest.toString(), "content-type": MediaType.OciIndex }),
        },
      },
    ],
    code: 5,
    message: /digest mismatch|sha256:/,
  },
  {
    name: "indexes nested deeper than any real image",
    sent: "an index of an index of … (6 levels, all digests valid) stored in the registry",
    source: (w) => `docker://${w.pSrc.host}/src/deep:v1`,
    rules: () => [],
    code: 5,
    message: /nested|deep/,
  },
  {
    name: "layer digest sha256:../../x in a manifest",
    sent: 'a single-platform manifest, served for its tag, with layers[0].digest = "sha256:../../x"',
    source: single,
    rules: rewriteSingle(withLayerDigest("sha256:../../x")),
    code: 5,
    message: /digest/,
  },
  {
    name: "layer digest with uppercase hex in a manifest",
    sent: "a single-platform manifest, served for its tag, with layers[0].digest in uppercase hex",
    source: single,
    rules: (w) => rewriteSingle(withLayerDigest(`sha256:${layer().digest.hex.toUpperCase()}`))(w),
    code: 5,
    message: /digest/,
  },
  {
    name: "index entry digest with uppercase hex",
    sent: "the tagged index with manifests[0].digest in uppercase hex",
    rules: rewriteTop((doc) => {
      const ms = doc.manifests as Array<Record<string, unknown>>;
      return { ...doc, manifests: [{ ...ms[0], digest: `sha256:${(ms[0]!.digest as string).slice(7).toUpperCase()}` }, ...ms.slice(1)] };
    }),
    code: 5,
    message: /digest/,
  },
  {
    name: "destination registry reports another digest for a stored child manifest",
    sent: "Docker-Content-Digest of other bytes on the PUT of a child manifest",
    side: "dst",
    dest: "registry",
    rules: () => [
      {
        method: "PUT",
        path: "/manifests/sha256:",
        action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: Digest.of("other bytes").toString() },
      },
    ],
    code: 5,
    message: /stored .* as sha256:/,
  },
  {
    name: "destination registry reports another digest for a stored blob",
    sent: "Docker-Content-Digest of other bytes on every blob upload PUT",
    side: "dst",
    dest: "registry",
    rules: () => [
      {
        method: "PUT",
        path: "/blobs/uploads/",
        action: { kind: "replaceHeader", name: "Docker-Content-Digest", value: Digest.of("other bytes").toString() },
      },
    ],
    code: 5,
    message: /stored .* as sha256:/,
  },
];

// ---- a token endpoint that returns garbage ----

interface GarbageTokenServer {
  url: string;
  body: string;
  contentType: string;
  requests: number;
}

async function startGarbageTokenServer(): Promise<GarbageTokenServer> {
  const state: GarbageTokenServer = { url: "", body: "", contentType: "application/json", requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    req.resume();
    res.writeHead(200, { "Content-Type": state.contentType });
    res.end(state.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  onCleanup(
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => server.close(),
  );
  return state;
}

interface GarbageCase {
  name: string;
  body: string;
  contentType?: string;
  message: RegExp;
}

const GARBAGE: GarbageCase[] = [
  { name: "HTML instead of JSON", body: "<html><body>502 Bad Gateway</body></html>", contentType: "text/html", message: /token/ },
  { name: "JSON without a token", body: JSON.stringify({ expires_in: 300 }), message: /token/ },
  { name: "a token holding a header injection", body: JSON.stringify({ token: "abc\r\nX-Injected: yes" }), message: /token/ },
  { name: "a token that is not a string", body: JSON.stringify({ token: { nested: true }, access_token: 42 }), message: /token/ },
  { name: "truncated JSON", body: '{"token": "eyJhbGciOiJFUzI1NiJ9', message: /token/ },
];

// ---- running a case ----

function destination(name: string, kind: "oci" | "registry"): { loc: string; dir?: string; repo?: string } {
  if (kind === "oci") {
    const dir = join(workDir, slug(name));
    return { loc: `oci:${dir}:v1`, dir };
  }
  const repo = `dst/${slug(name)}`;
  return { loc: `docker://${w.pDst.host}/${repo}:v1`, repo };
}

async function assertNothingWritten(dst: { dir?: string; repo?: string }, lie?: Digest): Promise<string> {
  if (dst.dir) {
    const st = await layoutState(dst.dir);
    assert.deepEqual(st.refs, {}, "no entry in the destination layout's index.json");
    await assertBlobsIntact(dst.dir);
    if (lie) assert.ok(!st.blobs.includes(lie.toString()), "the lie's bytes were not stored as a blob");
    assert.deepEqual(
      st.extras.filter((e) => e.startsWith(".dray-tmp")),
      [],
      "no temporary file left",
    );
    return st.exists ? `layout has no entry (${st.blobs.length} verified blobs, unreferenced)` : "no layout created";
  }
  assert.deepEqual(await registryTags(w.dst, dst.repo!), [], "no tag in the destination registry");
  return "no tag at the destination";
}

async function runLie(c: LieCase): Promise<string> {
  const proxy = c.side === "dst" ? w.pDst : w.pSrc;
  w.pSrc.clearRules();
  w.pDst.clearRules();
  for (const r of c.rules(w)) proxy.addRule(r);
  const dst = destination(c.name, c.dest ?? "oci");
  const source = c.source?.(w) ?? `docker://${w.pSrc.host}/src/img:v1`;
  const r = await run(["copy", "-q", "--src-creds", w.credsSrc, "--dest-creds", w.credsDst, source, dst.loc]);
  w.pSrc.clearRules();
  w.pDst.clearRules();
  assert.equal(r.code, c.code, `exit ${r.code}, expected ${c.code}: ${lastLine(r.stderr) || "(no error line)"}\n${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^dray: [^\n]+\n$/, "one error line");
  assert.match(r.stderr, c.message);
  const state = await assertNothingWritten(dst, c.lie?.(w));
  return `exit ${r.code}: "${lastLine(r.stderr)}"; ${state}`;
}

async function runGarbage(g: GarbageCase): Promise<string> {
  w.garbage.body = g.body;
  w.garbage.contentType = g.contentType ?? "application/json";
  const before = w.garbage.requests;
  const dst = destination(`token ${g.name}`, "oci");
  // The garbage endpoint is on another port of 127.0.0.1 over plain HTTP: trusted, so the credential is asked for.
  const trust = ["--trust-realm", new URL(w.garbage.url).host];
  const r = await run(["copy", "-q", ...trust, "--creds", credsOf(w.tokenReg), `docker://${w.pToken.host}/src/img:v1`, dst.loc]);
  assert.ok(w.garbage.requests > before, "dray asked the token endpoint");
  assert.equal(r.code, 1, `exit code; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /^dray: [^\n]+\n$/, "one error line");
  assert.match(r.stderr, g.message);
  assert.ok(!r.stderr.includes("X-Injected"), "the garbage is not echoed");
  const state = await assertNothingWritten(dst);
  return `exit ${r.code}: "${lastLine(r.stderr)}"; ${state}`;
}

/** Pushes an index of an index of … `depth` levels over the image's amd64 manifest. */
async function pushDeep(reg: RegistryHandle, depth: number): Promise<Digest> {
  const client = new TestRegistryClient(reg);
  try {
    const base = w.img.images[0]!;
    for (const b of [base.config, ...base.layers]) await client.pushBlob("src/deep", b.digest.toString(), b.bytes);
    await client.putManifest("src/deep", base.manifest.digest.toString(), base.manifest.mediaType, base.manifest.bytes);
    let child = { mediaType: base.manifest.mediaType, digest: base.manifest.digest, size: base.manifest.bytes.length };
    for (let i = 0; i < depth; i++) {
      const bytes = OCI_JSON({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: child.mediaType, digest: child.digest.toString(), size: child.size }],
      });
      const digest = Digest.of(bytes);
      const ref = i === depth - 1 ? "v1" : digest.toString();
      await client.putManifest("src/deep", ref, MediaType.OciIndex, bytes);
      child = { mediaType: MediaType.OciIndex, digest, size: bytes.length };
    }
    return child.digest;
  } finally {
    await client.close();
  }
}

describe("lies from a registry are refused before anything is written", () => {
  before(async () => {
    requireTool("skopeo");
    workDir = makeTempDir("dray-rel-lies-");
    [w.src, w.dst, w.tokenReg] = await Promise.all([
      startRegistry({ mode: "htpasswd" }),
      startRegistry({ mode: "htpasswd" }),
      startRegistry({ mode: "token" }),
    ]);
    [w.pSrc, w.pDst, w.pToken] = await Promise.all([startProxy(w.src), startProxy(w.dst), startProxy(w.tokenReg)]);
    w.credsSrc = credsOf(w.src);
    w.credsDst = credsOf(w.dst);
    w.img = await buildIndex({ seed: "rel-lies", layerCount: 2 });
    await pushImage(w.src, "src/img", "v1", w.img);
    await pushImage(w.src, "src/single", "v1", w.img.images[0]!);
    await pushImage(w.tokenReg, "src/img", "v1", w.img);
    w.deep = { top: await pushDeep(w.src, 6), depth: 6 };
    w.garbage = await startGarbageTokenServer();
    // Every answer of the token-mode registry points at the garbage token endpoint.
    w.pToken.addRule({
      action: { kind: "replaceHeader", name: "WWW-Authenticate", value: `Bearer realm="${w.garbage.url}",service="dray-test-registry"` },
    });
  });

  it("control: without lies the same copy succeeds", async () => {
    const dst = destination("control", "oci");
    const r = await run(["copy", "-q", "--src-creds", w.credsSrc, `docker://${w.pSrc.host}/src/img:v1`, dst.loc]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), w.img.manifest.digest.toString());
  });

  for (const c of CASES) caseIt("lie", c.name, c.sent, () => runLie(c));
  for (const g of GARBAGE)
    caseIt("lie", `token endpoint returns ${g.name}`, `a token-mode registry whose realm answers 200 with ${g.name}`, () => runGarbage(g));

  it("no password, Basic header or token appears in any output of these runs", () => {
    addSecret(w.tokenReg.password);
    assert.ok(assertNoSecretsPrinted() >= CASES.length);
  });
});
