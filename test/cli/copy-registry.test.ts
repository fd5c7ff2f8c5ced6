// `dray copy` against the real registry, through the fault proxy so the
// requests can be counted: a re-copy moves no blob, a copy within one
// registry mounts instead of uploading, --all-tags copies every tag, and
// SIGINT in the middle of a big layer leaves each kind of destination as it was.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { parseManifest } from "../../src/oci/manifest.js";
import { buildImage, buildIndex, pushImage, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "./run.js";

/** Blob bodies moving: upload starts, chunk PATCHes and PUTs that complete uploads. */
function uploads(proxy: FaultProxy, repo: string): number {
  return proxy.count(["POST", "PATCH", "PUT"], new RegExp(`^/v2/${repo}/blobs/uploads/`));
}

describe("dray copy with a registry", () => {
  let registry: RegistryHandle;
  let proxy: FaultProxy;
  let built: BuiltIndex;
  let dir: string;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    registry = await startRegistry();
    proxy = await startProxy(registry);
    dir = makeTempDir("dray-cli-registry-");
    built = await buildIndex({ sharedBaseLayer: true, layerCount: 1, layerSize: 300_000, seed: "cli-registry" });
    await pushImage({ url: registry.url }, "src/app", "v1", built);
  });

  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it("a re-copy into a repository that has every blob moves none: one HEAD each, no upload", async () => {
    const first = await dray(["copy", "-q", `docker://${proxy.host}/src/app:v1`, `docker://${proxy.host}/recopy/app:v1`]);
    assert.equal(first.code, 0, first.stderr);
    proxy.log.length = 0;
    const again = await dray(["copy", "--format", "json", `docker://${proxy.host}/src/app:v1`, `docker://${proxy.host}/recopy/app:v2`]);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { Blobs: Record<string, number>; Bytes: number; Digest: string };
    // 3 configs, 3 own layers, 1 shared base layer
    assert.deepEqual(summary.Blobs, { Copied: 0, Skipped: 7, Mounted: 0 });
    assert.equal(summary.Bytes, 0);
    assert.equal(uploads(proxy, "recopy/app"), 0);
    assert.equal(proxy.count("GET", /\/blobs\/sha256:/), 0, "no blob read from the source");
    assert.equal(proxy.count("HEAD", /^\/v2\/recopy\/app\/blobs\/sha256:/), 7, "one HEAD per distinct blob");
    assert.equal(proxy.count("PUT", /^\/v2\/recopy\/app\/manifests\//), 4);
    assert.equal(summary.Digest, built.manifest.digest.toString());
    assert.deepEqual(await skopeoInspectRaw(`docker://${registry.host}/recopy/app:v2`), built.manifest.bytes);
  });

  it("a copy to the same tag again is up to date: no blob request at all", async () => {
    proxy.log.length = 0;
    const r = await dray(["copy", `docker://${proxy.host}/src/app:v1`, `docker://${proxy.host}/recopy/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /is up to date/);
    assert.equal(proxy.count(undefined, /\/blobs\//), 0);
    assert.equal(proxy.count("PUT"), 0);
  });

  it("within one registry, blobs are mounted from the source repository, no body uploaded", async () => {
    proxy.log.length = 0;
    const r = await dray(["copy", "--format", "json", `docker://${proxy.host}/src/app:v1`, `docker://${proxy.host}/mounted/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { Blobs: Record<string, number> };
    assert.deepEqual(summary.Blobs, { Copied: 0, Skipped: 0, Mounted: 7 });
    assert.equal(proxy.count("POST", /^\/v2\/mounted\/app\/blobs\/uploads\/\?.*mount=sha256/), 7);
    assert.equal(proxy.count(["PATCH", "PUT"], /^\/v2\/mounted\/app\/blobs\/uploads\//), 0);
    assert.equal(proxy.count("GET", /\/blobs\/sha256:/), 0);
    assert.deepEqual(await skopeoInspectRaw(`docker://${registry.host}/mounted/app:v1`), built.manifest.bytes);
  });

  it("a Docker manifest list keeps its bytes; a --platform subset stays a Docker manifest list", async () => {
    const docker = await buildIndex({ format: "docker", layerCount: 1, layerSize: 20_000, seed: "docker-list", manifestIndent: 3 });
    await pushImage({ url: registry.url }, "src/docker", "v1", docker);
    const whole = await dray(["copy", `docker://${registry.host}/src/docker:v1`, `docker://${registry.host}/dst/docker:v1`]);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(whole.stdout.trim(), docker.manifest.digest.toString());
    assert.deepEqual(await skopeoInspectRaw(`docker://${registry.host}/dst/docker:v1`), docker.manifest.bytes);
    for (const img of docker.images) {
      assert.deepEqual(await skopeoInspectRaw(`docker://${registry.host}/dst/docker@${img.manifest.digest}`), img.manifest.bytes);
    }
    const subset = await dray([
      "copy",
      "--platform",
      "linux/arm/v7",
      `docker://${registry.host}/src/docker:v1`,
      `docker://${registry.host}/dst/docker:arm`,
    ]);
    assert.equal(subset.code, 0, subset.stderr);
    const raw = await skopeoInspectRaw(`docker://${registry.host}/dst/docker:arm`);
    const parsed = parseManifest(raw);
    assert.equal(parsed.mediaType, "application/vnd.docker.distribution.manifest.list.v2+json");
    assert.equal(Digest.of(raw).toString(), subset.stdout.trim());
  });

  it("--all-tags copies every tag of the repository, digests unchanged", async () => {
    const tags = ["1.0", "1.1", "2.0"];
    const digests = new Map<string, string>();
    for (const [i, tag] of tags.entries()) {
      const img = await buildImage({ layerCount: 1, layerSize: 50_000, seed: `tags-${i}` });
      digests.set(tag, (await pushImage({ url: registry.url }, "tags/app", tag, img)).toString());
    }
    const r = await dray(["copy", "--all-tags", `docker://${registry.host}/tags/app`, `oci:${join(dir, "alltags")}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split("\n").sort(),
      tags.map((t) => `${t} ${digests.get(t)}`),
    );
    assert.match(r.stderr, /Copied 3 tags of docker:\/\/.*tags\/app/);
    for (const t of tags) {
      const raw = await skopeoInspectRaw(`oci:${join(dir, "alltags")}:${t}`);
      assert.equal(Digest.of(raw).toString(), digests.get(t));
    }
    const toRegistry = await dray([
      "copy",
      "-q",
      "--all-tags",
      `docker://${registry.host}/tags/app`,
      `docker://${registry.host}/tags/mirror`,
    ]);
    assert.equal(toRegistry.code, 0, toRegistry.stderr);
    const listed = await skopeo(["list-tags", "--tls-verify=false", `docker://${registry.host}/tags/mirror`]);
    assert.deepEqual((JSON.parse(listed.stdout) as { Tags: string[] }).Tags.sort(), tags);
  });
});

// Under tsx the entry is the .ts source; in the compiled tree (npm test) it is dist/test/cli/dray-entry.js.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));
const NODE_ARGS = FROM_SOURCE ? ["--import", "tsx", ENTRY] : [ENTRY];

/** Starts dray with --progress json; resolves when `ready(line)` is true for a stderr line. */
function startDray(args: string[]): {
  ready(pred: (e: { type: string; digest?: string }) => boolean): Promise<void>;
  sigint(): void;
  done: Promise<{ code: number; stderr: string }>;
} {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stderr = "";
  const waiters: Array<{ pred: (e: { type: string; digest?: string }) => boolean; resolve: () => void }> = [];
  child.stdout.resume();
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => {
    stderr += s;
    for (const line of s.split("\n")) {
      let e: { type: string; digest?: string };
      try {
        e = JSON.parse(line) as { type: string };
      } catch {
        continue;
      }
      for (const w of waiters.splice(0)) {
        if (w.pred(e)) w.resolve();
        else waiters.push(w);
      }
    }
  });
  const done = new Promise<{ code: number; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code: code ?? -1, stderr })),
  );
  const ended = done.then((r) => {
    throw new Error(`dray exited ${r.code} before the awaited event:\n${r.stderr}`);
  });
  ended.catch(() => undefined);
  return {
    ready: (pred) => Promise.race([new Promise<void>((resolve) => waiters.push({ pred, resolve })), ended]),
    sigint: () => child.kill("SIGINT"),
    done,
  };
}

describe("SIGINT in the middle of a big layer", () => {
  let registry: RegistryHandle;
  let proxy: FaultProxy;
  let dir: string;
  let bigLayer: string;

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    proxy = await startProxy(registry);
    dir = makeTempDir("dray-sigint-");
    const img = await buildImage({ layerCount: 2, layerSize: 8_000_000, seed: "sigint" });
    bigLayer = img.layers[0]!.digest.toString();
    await pushImage({ url: registry.url }, "big/app", "v1", img);
    // The layer's body stops after 1 MB for 10 s (far longer than the test waits before SIGINT;
    // short, because the proxy's stall timer keeps the test process alive until it ends).
    proxy.addRule({ method: "GET", path: `/blobs/${bigLayer}`, action: { kind: "stall", ms: 10_000, afterBytes: 1_000_000 } });
  });

  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  async function interrupt(dst: string): Promise<{ code: number; stderr: string }> {
    const run = startDray(["copy", "--progress", "json", `docker://${proxy.host}/big/app:v1`, dst]);
    await run.ready((e) => e.type === "blob-bytes" && e.digest === bigLayer);
    // Let the other layer finish (or not): the point is an interruption mid-copy.
    await new Promise((r) => setTimeout(r, 200));
    run.sigint();
    return run.done;
  }

  it("into an OCI layout: exit 130, no tag, no temporary file", async () => {
    const layout = join(dir, "layout");
    const r = await interrupt(`oci:${layout}:v1`);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /^dray: interrupted$/m);
    if (existsSync(join(layout, "index.json"))) {
      const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: unknown[] };
      assert.deepEqual(index.manifests, []);
    }
    // Complete blobs may stay (content-addressed, unreferenced); nothing partial may.
    const leftovers = existsSync(layout) ? (await listFiles(layout)).map((f) => relative(layout, f)) : [];
    const allowed = (f: string): boolean => f === "index.json" || f === "oci-layout" || /^blobs\/sha256\/[0-9a-f]{64}$/.test(f);
    assert.deepEqual(
      leftovers.filter((f) => !allowed(f)),
      [],
    );
    assert.ok(!leftovers.includes(`blobs/sha256/${bigLayer.slice(7)}`), "the interrupted layer is not there");
  });

  it("into a registry: exit 130 and the tag does not exist", async () => {
    const r = await interrupt(`docker://${registry.host}/interrupted/app:v1`);
    assert.equal(r.code, 130, r.stderr);
    const probe = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/interrupted/app:v1`]);
    assert.notEqual(probe.code, 0, "no tag was written");
  });

  it("into a docker-archive and an oci-archive: exit 130 and no archive file", async () => {
    for (const dst of [`docker-archive:${join(dir, "out.docker.tar")}:big/app:v1`, `oci-archive:${join(dir, "out.oci.tar")}:v1`]) {
      const r = await interrupt(dst);
      assert.equal(r.code, 130, r.stderr);
    }
    const files = await readdir(dir);
    assert.ok(!files.some((f) => f.startsWith("out.")), files.join(", "));
  });
});

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(join(e.parentPath ?? e.path, e.name));
  return out;
}
