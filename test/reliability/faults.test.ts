// Faults: a real `dray copy` of a multi-platform image between two real
// registries (both with htpasswd auth), with the fault-injecting proxy in
// front of the source (download faults) or the destination (upload faults).
// A fault that clears must end with a destination skopeo reads with the right
// digests; one that never clears with a clear error and no tag written.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildIndex, pushImage, type BuiltIndex } from "../helpers/fixtures.js";
import { retryAfter, startProxy, type FaultProxy, type ProxyRule } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import {
  assertNoSecretsPrinted,
  caseIt,
  credsOf,
  lastLine,
  layoutState,
  registryTags,
  run,
  sleep,
  slug,
  startResults,
  waitFor,
} from "./support.js";
import { assertHolds } from "./verify.js";

startResults(import.meta.url);

interface World {
  regA: RegistryHandle;
  regB: RegistryHandle;
  /** In front of the source registry. */
  pA: FaultProxy;
  /** In front of the destination registry. */
  pB: FaultProxy;
  small: BuiltIndex;
  big: BuiltIndex;
  credsA: string;
  credsB: string;
}

type DestKind = "registry" | "oci" | "docker-archive";

interface FaultCase {
  name: string;
  /** What the proxy sends, for the table. */
  sent: string;
  image: "small" | "big";
  /** Which proxy the rules go on: the source's (downloads) or the destination's (uploads). */
  side: "src" | "dst";
  dest?: DestKind;
  rules: (w: World) => ProxyRule[];
  /** Runs while the copy is going (e.g. a registry restart). */
  during?: (w: World) => Promise<void>;
  /** undefined: must succeed. Otherwise the exit code and the error line. */
  fails?: { code: number; message: RegExp };
  /** Extra checks after the copy; returns a note for the table. */
  check?: (w: World) => string | void;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

const w = {} as World;
let retryDate = new Date(0);
let workDir: string;

/** The layer every download fault aims at: the arm64 image's second layer. */
const smallLayer = (): { digest: string; size: number } => {
  const l = w.small.images[1]!.layers[1]!;
  return { digest: l.digest.toString(), size: l.size };
};
const bigLayer = (): { digest: string; size: number } => {
  const l = w.big.images[0]!.layers[0]!;
  return { digest: l.digest.toString(), size: l.size };
};

/** How many requests for `path` the proxy saw, and how many it faulted. */
function traffic(p: FaultProxy, method: string, path: string | RegExp): string {
  const seen = p.log.filter((e) => e.method === method && (typeof path === "string" ? e.path.includes(path) : path.test(e.path)));
  const faulted = seen.filter((e) => e.action !== "pass").length;
  return `${seen.length} ${method} (${faulted} faulted)`;
}

const cutGet = (at: (size: number) => number, label: string): FaultCase => ({
  name: `GET of a layer cut after ${label}`,
  sent: `headers, then ${label} of the layer body, then the connection closes (once)`,
  image: "small",
  side: "src",
  rules: () => [{ method: "GET", path: smallLayer().digest, times: 1, action: { kind: "cutResponse", afterBytes: at(smallLayer().size) } }],
  check: (w) => `${traffic(w.pA, "GET", smallLayer().digest)}`,
});

const cutPatch = (at: (size: number) => number, label: string): FaultCase => ({
  name: `upload PUT of a 1.3 MB layer cut after ${label}`,
  sent: `the first ${label} of the upload body reach the registry, then both connections close (once)`,
  image: "big",
  side: "dst",
  rules: () => [{ method: "PUT", path: "/blobs/uploads/", times: 1, action: { kind: "cutRequest", afterBytes: at(bigLayer().size) } }],
  check: (w) => `${traffic(w.pB, "PUT", "/blobs/uploads/")}`,
});

const statusTimes = (
  status: number,
  times: number,
  method: string,
  path: (w: World) => string,
  what: string,
  side: "src" | "dst",
): FaultCase => ({
  name: `${status} ×${times} on ${what}, then success`,
  sent: `HTTP ${status} to the first ${times} ${method} ${what}`,
  image: "small",
  side,
  rules: (w) => [{ method, path: path(w), times, action: { kind: "status", status } }],
  check: (w) => traffic(side === "src" ? w.pA : w.pB, method, path(w)),
});

const CASES: FaultCase[] = [
  cutGet(() => 0, "0 bytes"),
  cutGet(() => 1, "1 byte"),
  cutGet((n) => Math.floor(n / 2), "half"),
  cutGet((n) => n - 1, "all but the last byte"),
  {
    name: "GET of a child manifest cut after 10 bytes",
    sent: "headers and 10 bytes of the arm64 manifest, then the connection closes (once)",
    image: "small",
    side: "src",
    rules: (w) => [
      {
        method: "GET",
        path: `/manifests/${w.small.images[1]!.manifest.digest}`,
        times: 1,
        action: { kind: "cutResponse", afterBytes: 10 },
      },
    ],
    check: (w) => traffic(w.pA, "GET", `/manifests/${w.small.images[1]!.manifest.digest}`),
  },
  {
    name: "GET of every layer cut half-way, into an OCI layout",
    sent: "every blob GET cut after half its body, once each",
    image: "small",
    side: "src",
    dest: "oci",
    rules: (w) =>
      w.small.images.flatMap((img) =>
        img.layers.map((l) => ({
          method: "GET",
          path: l.digest.toString(),
          times: 1,
          action: { kind: "cutResponse" as const, afterBytes: Math.floor(l.size / 2) },
        })),
      ),
    check: (w) => traffic(w.pA, "GET", "/blobs/sha256:"),
  },
  cutPatch(() => 1, "1 byte"),
  cutPatch(() => 64 * 1024, "64 KiB"),
  cutPatch((n) => Math.floor(n / 2), "half"),
  cutPatch((n) => n - 1, "all but the last byte"),
  statusTimes(500, 2, "GET", () => smallLayer().digest, "layer GETs", "src"),
  statusTimes(502, 2, "GET", () => "/manifests/v1", "manifest GETs by tag", "src"),
  statusTimes(503, 3, "GET", () => "/blobs/sha256:", "blob GETs", "src"),
  statusTimes(503, 2, "POST", () => "/blobs/uploads/", "upload starts (POST)", "dst"),
  statusTimes(502, 2, "PUT", () => "/blobs/uploads/", "blob PUTs", "dst"),
  statusTimes(500, 2, "HEAD", () => "/blobs/sha256:", "blob HEADs", "dst"),
  statusTimes(503, 3, "PUT", () => "/manifests/", "manifest PUTs", "dst"),
  {
    ...statusTimes(503, 2, "GET", () => "/blobs/sha256:", "blob GETs", "src"),
    name: "503 ×2 on blob GETs, then success, into a docker-archive",
    dest: "docker-archive",
    extraArgs: ["--platform", "linux/arm64"],
  },
  {
    name: "429 with Retry-After: 1 (seconds), then success",
    sent: "HTTP 429 Retry-After: 1 to the first layer GET",
    image: "small",
    side: "src",
    rules: () => [{ method: "GET", path: smallLayer().digest, times: 1, action: { kind: "status", status: 429, headers: retryAfter(1) } }],
    check: (w) => {
      const ms = waited(w.pA, smallLayer().digest);
      assert.ok(ms >= 950, `waited ${ms} ms for Retry-After: 1`);
      return `${traffic(w.pA, "GET", smallLayer().digest)}, the retry came ${ms} ms later`;
    },
  },
  {
    name: "429 with Retry-After as an HTTP-date, then success",
    sent: "HTTP 429 Retry-After: <now + 4 s, IMF-fixdate> to the first layer GET",
    image: "small",
    side: "src",
    rules: () => {
      retryDate = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
      return [
        { method: "GET", path: smallLayer().digest, times: 1, action: { kind: "status", status: 429, headers: retryAfter(retryDate) } },
      ];
    },
    check: (w) => {
      const seen = w.pA.log.filter((e) => e.method === "GET" && e.path.includes(smallLayer().digest));
      const retry = seen.find((e) => e.action === "pass");
      assert.ok(retry, "retried");
      // The date has whole seconds: the retry may not come before it (a little clock slack allowed).
      assert.ok(retry.at >= retryDate.getTime() - 50, `retried ${retryDate.getTime() - retry.at} ms before the date`);
      return `${traffic(w.pA, "GET", smallLayer().digest)}, the retry came ${retry.at - retryDate.getTime()} ms after the date`;
    },
  },
  {
    name: "redirect of every blob GET to another loopback server",
    sent: "307 to http://127.0.0.1:OTHER/… for each blob GET; that server serves the blob and records the headers it got",
    image: "small",
    side: "src",
    rules: () => [{ method: "GET", path: "/blobs/sha256:", action: { kind: "redirect", status: 307 } }],
    check: (w) => {
      const got = w.pA.redirectTarget.requests;
      assert.ok(got.length >= 7, `the redirect target served the blobs (${got.length} requests)`);
      const withAuth = got.filter((r) => r.headers.authorization !== undefined || r.headers.cookie !== undefined);
      assert.equal(withAuth.length, 0, "no Authorization or Cookie crossed the redirect to another host");
      return `${got.length} blob GETs served by the other host, none carried Authorization`;
    },
  },
  {
    name: "source registry restarted in the middle of the copy",
    sent: "every blob GET held 400 ms (--jobs 1); at the 3rd, the source registry is stopped for 0.8 s, then started again",
    image: "small",
    side: "src",
    extraArgs: ["--jobs", "1"],
    rules: () => [{ method: "GET", path: "/blobs/sha256:", action: { kind: "stall", ms: 400 } }],
    during: async (w) => {
      await waitFor(() => w.pA.log.filter((e) => e.path.includes("/blobs/sha256:")).length >= 3, 20_000, "the 3rd blob GET");
      await w.regA.stop();
      await sleep(800);
      await w.regA.restart();
    },
    check: (w) =>
      `${traffic(w.pA, "GET", "/blobs/sha256:")}, ${w.pA.log.filter((e) => e.status === undefined).length} requests met the stopped registry`,
  },
  {
    name: "destination registry restarted in the middle of the copy",
    sent: "every blob HEAD and upload POST held 300 ms; at the 4th, the destination registry is stopped for 0.8 s, then started again",
    image: "small",
    side: "dst",
    extraArgs: ["--jobs", "1"],
    rules: () => [{ method: ["HEAD", "POST"], path: "/blobs/", action: { kind: "stall", ms: 300 } }],
    during: async (w) => {
      await waitFor(() => w.pB.log.filter((e) => e.path.includes("/blobs/")).length >= 4, 20_000, "the 4th blob request");
      await w.regB.stop();
      await sleep(800);
      await w.regB.restart();
    },
    check: (w) => `${w.pB.log.length} requests, ${w.pB.log.filter((e) => e.status === undefined).length} met the stopped registry`,
  },
  {
    name: "a layer GET stalls before its headers longer than the timeout, once",
    sent: "the first layer GET held 8 s before any answer; DRAY_HTTP_TIMEOUT=1",
    image: "small",
    side: "src",
    env: { DRAY_HTTP_TIMEOUT: "1" },
    rules: () => [{ method: "GET", path: smallLayer().digest, times: 1, action: { kind: "stall", ms: 8000 } }],
    check: (w) => traffic(w.pA, "GET", smallLayer().digest),
  },
  {
    name: "a layer body stalls half-way longer than the timeout, once",
    sent: "the first GET of the 1.3 MB layer pauses 8 s after 200 KB; DRAY_HTTP_TIMEOUT=1",
    image: "big",
    side: "src",
    env: { DRAY_HTTP_TIMEOUT: "1" },
    rules: () => [{ method: "GET", path: bigLayer().digest, times: 1, action: { kind: "stall", ms: 8000, afterBytes: 200_000 } }],
    check: (w) => {
      const ranged = w.pA.log.filter((e) => e.path.includes(bigLayer().digest) && e.headers.range !== undefined);
      return `${traffic(w.pA, "GET", bigLayer().digest)}, resumed with ${ranged.map((e) => e.headers.range).join(", ") || "no Range"}`;
    },
  },
  // Faults that never clear: a clear error, and no tag at the destination.
  {
    name: "503 on every layer GET (never clears)",
    sent: "HTTP 503 to every GET of one layer",
    image: "small",
    side: "src",
    rules: () => [{ method: "GET", path: smallLayer().digest, action: { kind: "status", status: 503 } }],
    fails: { code: 1, message: /HTTP 503\b.* \(after 3 retries; --retries N\)$/m },
    check: (w) => traffic(w.pA, "GET", smallLayer().digest),
  },
  {
    name: "every GET of a layer cut before its body (never clears)",
    sent: "every GET (and ranged re-GET) of one layer: headers, then the connection closes",
    image: "small",
    side: "src",
    rules: () => [{ method: "GET", path: smallLayer().digest, action: { kind: "cutResponse", afterBytes: 0 } }],
    fails: { code: 1, message: /blobs?[ /]sha256:[0-9a-f]{64}/ },
    check: (w) => traffic(w.pA, "GET", smallLayer().digest),
  },
  {
    name: "every upload PUT cut half-way (never clears)",
    sent: "every upload PUT of the big layer cut after half of it",
    image: "big",
    side: "dst",
    rules: () => [{ method: "PUT", path: "/blobs/uploads/", action: { kind: "cutRequest", afterBytes: Math.floor(bigLayer().size / 2) } }],
    fails: { code: 1, message: /upload|PUT/ },
    check: (w) => traffic(w.pB, "PUT", "/blobs/uploads/"),
  },
  {
    name: "every GET of a layer stalls longer than the timeout (never clears)",
    sent: "every GET of one layer held 8 s before any answer; DRAY_HTTP_TIMEOUT=1",
    image: "small",
    side: "src",
    env: { DRAY_HTTP_TIMEOUT: "1" },
    rules: () => [{ method: "GET", path: smallLayer().digest, action: { kind: "stall", ms: 8000 } }],
    fails: {
      code: 1,
      message: /accepted the connection but sent nothing within 1 s: GET http:\/\/.*\/blobs\/sha256:.* \(after 3 retries; --retries N\)/,
    },
    check: (w) => traffic(w.pA, "GET", smallLayer().digest),
  },
  {
    name: "429 with Retry-After: 1 on every manifest PUT (never clears)",
    sent: "HTTP 429 Retry-After: 1 to every manifest PUT",
    image: "small",
    side: "dst",
    rules: () => [{ method: "PUT", path: "/manifests/", action: { kind: "status", status: 429, headers: retryAfter(1) } }],
    fails: { code: 1, message: /429/ },
    check: (w) => traffic(w.pB, "PUT", "/manifests/"),
  },
];

/** Milliseconds between the faulted request for `path` and the next one. */
function waited(p: FaultProxy, path: string): number {
  const seen = p.log.filter((e) => e.method === "GET" && e.path.includes(path));
  const i = seen.findIndex((e) => e.action !== "pass");
  assert.ok(i >= 0 && seen[i + 1], "a retry followed the 429");
  return seen[i + 1]!.at - seen[i]!.at;
}

function destination(c: FaultCase, repo: string): { loc: string; check: string } {
  switch (c.dest ?? "registry") {
    case "registry": {
      const host = c.side === "dst" ? w.pB.host : w.regB.host;
      return { loc: `docker://${host}/${repo}:v1`, check: `docker://${w.regB.host}/${repo}:v1` };
    }
    case "oci": {
      const dir = join(workDir, slug(repo));
      return { loc: `oci:${dir}:v1`, check: `oci:${dir}:v1` };
    }
    case "docker-archive": {
      const file = join(workDir, `${slug(repo)}.tar`);
      return { loc: `docker-archive:${file}:dray/test:v1`, check: `docker-archive:${file}` };
    }
  }
}

async function runCase(c: FaultCase): Promise<string> {
  const built = c.image === "small" ? w.small : w.big;
  const repo = `dst/${slug(c.name)}`;
  const proxy = c.side === "src" ? w.pA : w.pB;
  w.pA.clearRules();
  w.pB.clearRules();
  w.pA.log.length = 0;
  w.pB.log.length = 0;
  w.pA.redirectTarget.requests.length = 0;
  for (const rule of c.rules(w)) proxy.addRule(rule);
  const srcHost = c.side === "src" ? w.pA.host : w.regA.host;
  const dst = destination(c, repo);
  const args = [
    "copy",
    "-q",
    "--src-creds",
    w.credsA,
    "--dest-creds",
    w.credsB,
    ...(c.extraArgs ?? []),
    `docker://${srcHost}/src/${c.image}:v1`,
    dst.loc,
  ];
  const started = Date.now();
  const [r] = await Promise.all([run(args, c.env ? { env: c.env } : {}), c.during?.(w)]);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  w.pA.clearRules();
  w.pB.clearRules();
  const note = c.check?.(w);
  if (c.fails) {
    assert.equal(r.code, c.fails.code, `exit ${r.code}, expected ${c.fails.code}: ${lastLine(r.stderr) || "(no error line)"}\n${r.stderr}`);
    assert.match(lastLine(r.stderr), /^dray: /);
    assert.match(r.stderr, c.fails.message);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one error line, got:\n${r.stderr}`);
    let untouched: string;
    if ((c.dest ?? "registry") === "registry") {
      assert.deepEqual(await registryTags(w.regB, repo), [], "no tag at the destination");
      untouched = "no tag at the destination";
    } else {
      const st = await layoutState(dst.check.replace(/^oci:/, "").replace(/:v1$/, ""));
      assert.deepEqual(st.refs, {}, "no layout entry");
      untouched = "no layout entry";
    }
    return `exit ${r.code} after ${seconds} s: "${lastLine(r.stderr)}"; ${untouched}; ${note ?? ""}`;
  }
  assert.equal(r.code, 0, `dray exited ${r.code}: ${lastLine(r.stderr)}\n${r.stderr}`);
  if (c.dest === "docker-archive") {
    // The archive holds one platform with decompressed layers: skopeo must read it and find the arm64 config.
    const { skopeoInspect } = await import("../helpers/skopeo.js");
    const info = await skopeoInspect(dst.check);
    assert.equal(info.Architecture, "arm64");
    assert.equal((info.Layers as string[]).length, w.small.images[1]!.layers.length);
    return `exit 0 after ${seconds} s; skopeo reads the archive (arm64, ${(info.Layers as string[]).length} layers); ${note ?? ""}`;
  }
  assert.equal(r.stdout.trim(), built.manifest.digest.toString());
  const held = await assertHolds(dst.check, built, (c.dest ?? "registry") === "registry" ? w.credsB : undefined);
  return `exit 0 after ${seconds} s; ${held}; ${note ?? ""}`;
}

describe("faults during a real copy of a multi-platform image", () => {
  before(async () => {
    requireTool("skopeo");
    workDir = makeTempDir("dray-rel-faults-");
    [w.regA, w.regB] = await Promise.all([startRegistry({ mode: "htpasswd" }), startRegistry({ mode: "htpasswd" })]);
    [w.pA, w.pB] = await Promise.all([startProxy(w.regA), startProxy(w.regB)]);
    w.credsA = credsOf(w.regA);
    w.credsB = credsOf(w.regB);
    w.small = await buildIndex({ seed: "rel-faults", layerCount: 2 });
    w.big = await buildIndex({ seed: "rel-faults-big", platforms: ["linux/amd64", "linux/arm64/v8"], layerSize: 1_300_000 });
    await pushImage(w.regA, "src/small", "v1", w.small);
    await pushImage(w.regA, "src/big", "v1", w.big);
  });

  for (const c of CASES) caseIt("fault", c.name, c.sent, () => runCase(c));

  it("no password, Basic header or token appears in any output of these runs", () => {
    assert.ok(assertNoSecretsPrinted() >= CASES.length);
  });

  after(() => undefined);
});
