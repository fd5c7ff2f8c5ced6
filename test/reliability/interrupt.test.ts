// Interruption: a real `dray copy` from a registry is held at a known point
// by the fault proxy (a stalled manifest or blob), then sent SIGINT or
// SIGKILL. After SIGINT: exit 130 and the destination is as it was (a
// registry's tags, a layout's index.json, an archive's bytes; no temporary
// file left). After SIGKILL: a later copy succeeds, skopeo reads it, and no
// temporary or partial file passes for a blob.
// Concurrency: several dray processes copying different images (sharing a
// base layer) into one OCI layout at once: every image lands.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { before, describe, it } from "node:test";
import { buildImage, buildIndex, buildLayer, pushImage, writeOciLayout, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy, type ProxyRule } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspect } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import {
  assertBlobsIntact,
  assertNoSecretsPrinted,
  caseIt,
  credsOf,
  lastLine,
  layoutState,
  registryTags,
  run,
  slug,
  snapshotTree,
  start,
  startResults,
  waitFor,
} from "./support.js";
import { assertHolds } from "./verify.js";

startResults(import.meta.url);

/** "new-oci": a layout folder that does not exist yet (the run creates it; an interrupted run removes it). */
type Dest = "registry" | "oci" | "new-oci" | "oci-archive" | "docker-archive";
type Point = "manifests" | "mid-blob" | "last-blob" | "tag-put";
type Sig = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGKILL";

/** SIGTERM (CI cancellation, `timeout`, Kubernetes) and SIGHUP end a run like Ctrl-C, with the shell's 128+N code (issue 19, bug 1). */
const EXIT_AFTER: Record<Exclude<Sig, "SIGKILL">, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

let src: RegistryHandle;
let dstReg: RegistryHandle;
let pSrc: FaultProxy;
let pDst: FaultProxy;
let img: BuiltIndex;
let old: BuiltImage;
let work: string;
let creds: { src: string; dst: string };

const HOLD_MS = 15_000;

const POINTS: Record<Point, string> = {
  manifests: "while the index's children are fetched (arm64 manifest GET held)",
  "mid-blob": "mid-blob (a layer GET held after half its bytes)",
  "last-blob": "every other blob placed, the last layer GET held",
  "tag-put": "the tag PUT of the index held at the destination registry",
};

/** The layer held by mid-blob and last-blob: the arm64 image's last layer. */
const heldLayer = (): { digest: string; size: number } => {
  const l = img.images[1]!.layers.at(-1)!;
  return { digest: l.digest.toString(), size: l.size };
};

function rulesFor(point: Point): { proxy: FaultProxy; rule: ProxyRule } {
  switch (point) {
    case "manifests":
      return {
        proxy: pSrc,
        rule: { method: "GET", path: `/manifests/${img.images[1]!.manifest.digest}`, times: 1, action: { kind: "stall", ms: HOLD_MS } },
      };
    case "mid-blob":
      return {
        proxy: pSrc,
        rule: {
          method: "GET",
          path: heldLayer().digest,
          times: 1,
          action: { kind: "stall", ms: HOLD_MS, afterBytes: Math.floor(heldLayer().size / 2) },
        },
      };
    case "last-blob":
      return { proxy: pSrc, rule: { method: "GET", path: heldLayer().digest, times: 1, action: { kind: "stall", ms: HOLD_MS } } };
    case "tag-put":
      return { proxy: pDst, rule: { method: "PUT", path: "/manifests/v2", times: 1, action: { kind: "stall", ms: HOLD_MS } } };
  }
}

/** Resolves when the copy is held where `point` says. */
async function reached(point: Point, proxy: FaultProxy, blobs: number): Promise<void> {
  await waitFor(() => proxy.log.some((e) => e.action === "stall"), 30_000, `the held request (${point})`);
  if (point === "last-blob") {
    // Every other blob GET has been answered in full.
    await waitFor(
      () =>
        pSrc.log.filter((e) => e.method === "GET" && e.path.includes("/blobs/") && e.status === 200 && e.action === "pass").length >=
        blobs - 1,
      30_000,
      "the other blobs",
    );
  }
  // Let the bytes before the hold reach the destination (temporary files, upload sessions).
  await new Promise((r) => setTimeout(r, 300));
}

interface Target {
  loc: string;
  /** Everything that says what the destination is now, for "as before" comparisons. */
  state(): Promise<unknown>;
  /** After the follow-up copy: skopeo reads the new image; returns a note. */
  verify(): Promise<string>;
  /** The local folder the copy writes temporaries into (none for a registry). */
  folder?: string;
  /** Blobs the copy moves (for last-blob). */
  blobs: number;
  platformArgs: string[];
}

/** A destination that already holds an older image (tag "v1"), so "as before" means something. */
async function target(dest: Dest, name: string): Promise<Target> {
  const all = 3 + img.images.reduce((n, i) => n + i.layers.length, 0);
  const arm = 1 + img.images[1]!.layers.length;
  switch (dest) {
    case "registry": {
      const repo = `dst/${slug(name)}`;
      await pushImage(dstReg, repo, "v1", old);
      return {
        loc: `docker://${pDst.host}/${repo}:v2`,
        state: async () => ({ tags: await registryTags(dstReg, repo) }),
        verify: () => assertHolds(`docker://${dstReg.host}/${repo}:v2`, img, creds.dst),
        blobs: all,
        platformArgs: [],
      };
    }
    case "oci": {
      const dir = join(work, slug(name));
      await writeOciLayout(dir, old, "v1");
      return {
        loc: `oci:${dir}:v2`,
        folder: dir,
        state: async () => {
          const st = await layoutState(dir);
          // The blob files too: an interrupted run takes back what it wrote (issue 19: no orphaned blob).
          return { index: await readFile(join(dir, "index.json"), "utf8"), extras: st.extras, blobs: st.blobs };
        },
        verify: async () => {
          const n = await assertBlobsIntact(dir);
          return `${await assertHolds(`oci:${dir}:v2`, img)}; ${n} files under blobs/, each named by its digest`;
        },
        blobs: all,
        platformArgs: [],
      };
    }
    case "new-oci": {
      const parent = join(work, slug(name));
      await mkdir(parent, { recursive: true });
      const dir = join(parent, "layout");
      return {
        loc: `oci:${dir}:v2`,
        folder: parent,
        // As it was: the parent folder empty, the layout folder never made (issue 19).
        state: async () => ({ listing: await readdir(parent) }),
        verify: async () => `${await assertHolds(`oci:${dir}:v2`, img)}; ${await assertBlobsIntact(dir)} blob files`,
        blobs: all,
        platformArgs: [],
      };
    }
    case "oci-archive":
    case "docker-archive": {
      const folder = join(work, slug(name));
      const file = join(folder, "image.tar");
      const seed = join(folder, "seed");
      await writeOciLayout(seed, old, "v1");
      const made = await run([
        "copy",
        "-q",
        `oci:${seed}:v1`,
        dest === "oci-archive" ? `oci-archive:${file}:v1` : `docker-archive:${file}:dray/old:v1`,
      ]);
      assert.equal(made.code, 0, made.stderr);
      return {
        loc: dest === "oci-archive" ? `oci-archive:${file}:v2` : `docker-archive:${file}:dray/new:v2`,
        folder,
        state: async () => ({ listing: (await readdir(folder)).filter((n) => n !== "seed").sort(), tree: await snapshotTree(folder) }),
        verify: async () => {
          if (dest === "oci-archive") return assertHolds(`oci-archive:${file}:v2`, img);
          const info = await skopeoInspect(`docker-archive:${file}:dray/new:v2`);
          assert.equal(info.Architecture, "arm64");
          return `skopeo reads dray/new:v2 (arm64, ${(info.Layers as string[]).length} layers)`;
        },
        blobs: dest === "oci-archive" ? all : arm,
        platformArgs: dest === "docker-archive" ? ["--platform", "linux/arm64"] : [],
      };
    }
  }
}

async function interrupt(dest: Dest, point: Point, sig: Sig): Promise<string> {
  const name = `${dest} ${point} ${sig}`;
  const t = await target(dest, name);
  for (const p of [pSrc, pDst]) {
    p.clearRules();
    p.log.length = 0;
  }
  const { proxy, rule } = rulesFor(point);
  proxy.addRule(rule);
  const before = await t.state();
  // The same copy is interrupted, then (after SIGKILL) run again.
  const copyArgs = ["--src-creds", creds.src, "--dest-creds", creds.dst, ...t.platformArgs, `docker://${pSrc.host}/src/img:v1`, t.loc];
  const child = start(["copy", ...copyArgs]);
  try {
    await reached(point, proxy, t.blobs);
  } catch (err) {
    child.child.kill("SIGKILL");
    const r = await child.wait();
    throw new Error(`${(err as Error).message}; dray exited ${r.code}: ${r.stderr}`, { cause: err });
  }
  const sentAt = Date.now();
  child.child.kill(sig);
  const r = await child.wait();
  const stopMs = Date.now() - sentAt;
  pSrc.clearRules();
  pDst.clearRules();
  if (sig !== "SIGKILL") {
    assert.equal(r.code, EXIT_AFTER[sig], `exit code after ${sig}; stderr:\n${r.stderr}`);
    assert.match(lastLine(r.stderr), /^dray: interrupted/);
    assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("dray:")).length, 1, `one message line on stderr:\n${r.stderr}`);
    assert.ok(stopMs < 5_000, `stopped within 5 s of ${sig} (${stopMs} ms)`);
    assert.deepEqual(await t.state(), before, "the destination is as it was");
    if (dest === "oci") await assertBlobsIntact(t.loc.slice(4, -3));
    return `exit ${r.code} ${stopMs} ms after ${sig}; destination as before (${dest === "registry" ? "same tags" : dest === "oci" ? "index.json and the blob files as before, no temporary left" : dest === "new-oci" ? "the layout folder it created is gone" : "archive byte-identical, no temporary left"})`;
  }
  assert.equal(r.signal, "SIGKILL");
  const again = await run(["copy", "-q", ...copyArgs]);
  assert.equal(again.code, 0, `the copy after SIGKILL exited ${again.code}: ${lastLine(again.stderr)}\n${again.stderr}`);
  if (t.folder) {
    // The killed run's temporaries (spool folders, .part files, the archive's .tmp) are swept by the next run.
    const left = (await readdir(t.folder)).filter((n) => n.startsWith(".") && n.includes("dray-") && !n.startsWith(".dray-lock"));
    assert.deepEqual(left, [], `temporaries of the killed run left in ${t.folder}`);
  }
  const note = await t.verify();
  return `killed; the next copy exits 0; ${note}`;
}

interface InterruptCase {
  dest: Dest;
  point: Point;
  sig: Sig;
}

const CASES: InterruptCase[] = [];
for (const dest of ["registry", "oci", "oci-archive", "docker-archive"] as const) {
  for (const point of ["mid-blob", "last-blob"] as const)
    for (const sig of ["SIGINT", "SIGKILL"] as const) CASES.push({ dest, point, sig });
}
for (const dest of ["registry", "oci", "oci-archive", "docker-archive"] as const) CASES.push({ dest, point: "mid-blob", sig: "SIGTERM" });
CASES.push({ dest: "oci-archive", point: "mid-blob", sig: "SIGHUP" });
for (const sig of ["SIGINT", "SIGTERM"] as const) CASES.push({ dest: "new-oci", point: "last-blob", sig });
CASES.push({ dest: "oci", point: "manifests", sig: "SIGINT" });
CASES.push({ dest: "registry", point: "manifests", sig: "SIGINT" });
CASES.push({ dest: "registry", point: "tag-put", sig: "SIGINT" });
CASES.push({ dest: "registry", point: "tag-put", sig: "SIGKILL" });

describe("interruption at known points of a copy into each destination form", () => {
  before(async () => {
    requireTool("skopeo");
    work = makeTempDir("dray-rel-interrupt-");
    [src, dstReg] = await Promise.all([startRegistry({ mode: "htpasswd" }), startRegistry({ mode: "htpasswd" })]);
    [pSrc, pDst] = await Promise.all([startProxy(src), startProxy(dstReg)]);
    creds = { src: credsOf(src), dst: credsOf(dstReg) };
    img = await buildIndex({ seed: "rel-interrupt", layerCount: 2, layerSize: 64 * 1024 });
    old = await buildImage({ seed: "rel-interrupt-old" });
    await pushImage(src, "src/img", "v1", img);
  });

  for (const c of CASES) {
    caseIt(
      "interruption",
      `${c.sig} ${POINTS[c.point].split(" (")[0]}, into ${c.dest}`,
      `${c.sig} ${POINTS[c.point]}`,
      () => interrupt(c.dest, c.point, c.sig),
      { timeout: 90_000 },
    );
  }
});

describe("concurrency: several dray processes into one OCI layout", () => {
  caseIt(
    "concurrency",
    "5 processes copy 5 images sharing a base layer into one layout at once",
    "5 concurrent `dray copy oci:SRC_i:v1 oci:SHARED:img-i`, every image with the same first layer",
    async () => {
      const dir = join(work, "concurrent");
      const base = await buildLayer([{ path: "base/shared.txt", content: "shared base layer\n" }]);
      const images = await Promise.all(
        Array.from({ length: 5 }, (_, i) => buildImage({ seed: `rel-conc-${i}`, baseLayers: [base], layerSize: 32 * 1024 })),
      );
      const sources = await Promise.all(
        images.map(async (im, i) => {
          const s = join(work, `conc-src-${i}`);
          await writeOciLayout(s, im, "v1");
          return s;
        }),
      );
      const results = await Promise.all(sources.map((s, i) => run(["copy", "-q", `oci:${s}:v1`, `oci:${dir}:img-${i}`])));
      results.forEach((r, i) => assert.equal(r.code, 0, `process ${i}: ${r.stderr}`));
      const st = await layoutState(dir);
      assert.deepEqual(
        Object.keys(st.refs).sort(),
        images.map((_, i) => `img-${i}`),
        "index.json holds every image",
      );
      for (const [i, im] of images.entries()) {
        assert.equal(st.refs[`img-${i}`], im.manifest.digest.toString());
        await assertHolds(`oci:${dir}:img-${i}`, im);
      }
      const n = await assertBlobsIntact(dir);
      assert.deepEqual(st.extras, [], "no lock or temporary left");
      return `5 × exit 0; index.json names all 5; skopeo reads each; ${n} blob files, each verified; no lock or temporary left`;
    },
    { timeout: 90_000 },
  );

  caseIt(
    "concurrency",
    "3 processes copy the same multi-platform image into one layout under 3 tags",
    "3 concurrent `dray copy docker://REG/src/img:v1 oci:SHARED:t-i` (identical blobs written at once)",
    async () => {
      const dir = join(work, "concurrent-same");
      const results = await Promise.all(
        [0, 1, 2].map((i) => run(["copy", "-q", "--src-creds", creds.src, `docker://${src.host}/src/img:v1`, `oci:${dir}:t-${i}`])),
      );
      results.forEach((r, i) => assert.equal(r.code, 0, `process ${i}: ${r.stderr}`));
      const st = await layoutState(dir);
      assert.deepEqual(Object.keys(st.refs).sort(), ["t-0", "t-1", "t-2"]);
      for (const t of ["t-0", "t-1", "t-2"]) assert.equal(st.refs[t], img.manifest.digest.toString());
      const held = await assertHolds(`oci:${dir}:t-1`, img);
      await assertBlobsIntact(dir);
      return `3 × exit 0; index.json names t-0, t-1, t-2; ${held}`;
    },
    { timeout: 90_000 },
  );

  it("no secret printed by any run of this file", () => {
    assert.ok(assertNoSecretsPrinted() > CASES.length);
    assert.ok(existsSync(dirname(work)));
  });
});
