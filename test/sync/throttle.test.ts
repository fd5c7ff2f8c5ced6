// Per-registry throttles (issue 15 item 5) against real registries: the
// fault proxy in front of each logs when every request arrived and when its
// answer was sent, so requests per second and requests in flight are counted
// where the registry would count them, under --jobs 16. min-remaining: the
// proxy makes the source announce a falling RateLimit-Remaining.
import { fromCliJson } from "../helpers/summary.js";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { SyncSummary } from "../../src/sync/types.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy, type ProxyLogEntry } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { homeEnv } from "../helpers/home.js";
import { dray, type DrayResult } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";
import { fetchManifest, listTags } from "./artifacts.js";

/** The most requests that arrived within any one second. */
function maxPerSecond(entries: readonly ProxyLogEntry[]): number {
  const at = entries.map((e) => e.at).sort((x, y) => x - y);
  let best = 0;
  for (let i = 0, j = 0; j < at.length; j++) {
    while (at[j]! - at[i]! >= 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/**
 * Arrivals at the proxy keep `rate` per second. The throttle spaces starts in
 * dray; a request delayed on its way (a loaded machine: tens of ms) can land
 * one more arrival inside some second at the proxy, so any one second may
 * hold rate + 1, while the mean over the whole run must stay within the rate.
 * Unthrottled, a second holds dozens (the first test below).
 */
function assertRate(entries: readonly ProxyLogEntry[], rate: number, name: string): void {
  const at = entries.map((e) => e.at).sort((x, y) => x - y);
  const perSecond = maxPerSecond(entries);
  assert.ok(perSecond <= rate + 1, `${name}: ${perSecond} requests in one second`);
  if (at.length < 2) return;
  const mean = ((at.length - 1) * 1000) / (at[at.length - 1]! - at[0]!);
  assert.ok(mean <= rate, `${name}: ${mean.toFixed(2)} requests per second on average`);
}

/** The most requests the proxy was answering at once (from arrival to the answer sent). */
function maxInFlight(entries: readonly ProxyLogEntry[]): number {
  const edges = entries.flatMap((e) => [
    { t: e.at, d: 1 },
    { t: e.end ?? Number.POSITIVE_INFINITY, d: -1 },
  ]);
  // An answer sent at the same millisecond another request arrived was over first.
  edges.sort((x, y) => x.t - y.t || x.d - y.d);
  let now = 0;
  let best = 0;
  for (const e of edges) best = Math.max(best, (now += e.d));
  return best;
}

const TAGS = Array.from({ length: 10 }, (_, i) => `t${i}`);

describe("dray sync: throttles per registry", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let a: FaultProxy;
  let b: FaultProxy;
  let dir: string;
  let home: string;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    home = isolateCredentials();
    dir = makeTempDir("dray-throttle-");
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    [a, b] = await Promise.all([startProxy(regA), startProxy(regB)]);
    for (const t of TAGS) await pushImage(regA, "team/big", t, await buildImage({ seed: `throttle-${t}`, layerCount: 3 }));
  });

  const env = (): NodeJS.ProcessEnv => homeEnv(home);
  const run = (args: string[]): Promise<DrayResult> => dray(["sync", ...args], { env: env() });

  it("without throttles --jobs 16 has many requests in flight (what the bounds below hold back)", async () => {
    const from = a.log.length;
    const r = await run([`${a.host}/team/big`, `${b.host}/free/team/big`, "--jobs", "16", "--no-referrers"]);
    assert.equal(r.code, 0, r.stderr);
    const inFlight = maxInFlight(a.log.slice(from));
    assert.ok(inFlight > 3, `in flight at the source: ${inFlight}`);
    process.stderr.write(
      `# unthrottled --jobs 16: source ${a.log.length - from} requests, ${maxPerSecond(a.log.slice(from))}/s at most, ${inFlight} in flight at most\n`,
    );
  });

  it("by default the whole run moves at most 8 blobs at once, whatever --jobs says (issue 27 item 29: 16 per image before)", async () => {
    // Held blob GETs keep each transfer in flight long enough to be counted where the registry sees them.
    const rule = a.addRule({ method: "GET", path: "/blobs/sha256:", action: { kind: "stall", ms: 300 } });
    const from = a.log.length;
    const r = await run([`${a.host}/team/big`, `${b.host}/window/team/big`, "--jobs", "16", "--no-referrers"]);
    rule.remove();
    assert.equal(r.code, 0, r.stderr);
    const blobGets = a.log.slice(from).filter((e) => e.method === "GET" && e.path.includes("/blobs/sha256:"));
    assert.equal(blobGets.length, TAGS.length * 4, "every blob fetched once");
    const inFlight = maxInFlight(blobGets);
    assert.ok(inFlight <= 8, `${inFlight} blob transfers in flight at once`);
    process.stderr.write(`# default window, --jobs 16: ${inFlight} blob GETs in flight at most\n`);
  });

  it("--rate and --registry-jobs bound every registry's requests per second and in flight under --jobs 16", async () => {
    const fromA = a.log.length;
    const fromB = b.log.length;
    const r = await run([
      `${a.host}/team/big`,
      `${b.host}/flags/team/big`,
      "--jobs",
      "16",
      "--rate",
      "20",
      "--registry-jobs",
      "3",
      "--no-referrers",
      "--format",
      "json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fromCliJson<SyncSummary>(r.stdout).images.copied, TAGS.length);
    for (const [name, p, from] of [
      ["source", a, fromA],
      ["destination", b, fromB],
    ] as const) {
      const log = p.log.slice(from);
      const perSecond = maxPerSecond(log);
      const inFlight = maxInFlight(log);
      assertRate(log, 20, name);
      assert.ok(inFlight <= 3, `${name}: ${inFlight} in flight`);
      process.stderr.write(
        `# --rate 20 --registry-jobs 3 --jobs 16: ${name} ${log.length} requests, ${perSecond}/s at most, ${inFlight} in flight at most\n`,
      );
    }
    assert.deepEqual(
      await skopeoInspectRaw(`docker://${regB.host}/flags/team/big:t7`, { tlsVerify: false }),
      await fetchManifest(regA, "team/big", "t7"),
    );
  });

  it("YAML registries.HOST.requests-per-second and concurrency bound that host only", async () => {
    const file = join(dir, "throttle.yaml");
    await writeFile(
      file,
      [
        `destination: ${b.host}/yaml`,
        "registries:",
        `  ${a.host}:`,
        "    requests-per-second: 8",
        "    concurrency: 2",
        "sync:",
        `  - source: ${a.host}/team/big`,
        "    referrers: false",
        "",
      ].join("\n"),
    );
    const from = a.log.length;
    const r = await run([file, "--jobs", "16"]);
    assert.equal(r.code, 0, r.stderr);
    const log = a.log.slice(from);
    assertRate(log, 8, "source");
    assert.ok(maxInFlight(log) <= 2, `${maxInFlight(log)} in flight`);
    assert.deepEqual(await listTags(regB, "yaml/team/big"), [...TAGS].sort());
    process.stderr.write(
      `# YAML requests-per-second 8, concurrency 2: source ${log.length} requests, ${maxPerSecond(log)}/s at most, ${maxInFlight(log)} in flight at most\n`,
    );
  });

  it("min-remaining: once RateLimit-Remaining falls to it, no more pulls start; the rest are reported skipped, exit 1", async () => {
    const high = a.addRule({
      method: "GET",
      path: "/manifests/",
      times: 2,
      action: { kind: "replaceHeader", name: "RateLimit-Remaining", value: "5;w=21600" },
    });
    const low = a.addRule({
      method: "GET",
      path: "/manifests/",
      action: { kind: "replaceHeader", name: "RateLimit-Remaining", value: "1;w=21600" },
    });
    try {
      const file = join(dir, "floor.yaml");
      await writeFile(
        file,
        [
          `destination: ${b.host}/floor`,
          "registries:",
          `  ${a.host}:`,
          "    min-remaining: 1",
          "sync:",
          `  - source: ${a.host}/team/big`,
          "    referrers: false",
          "",
        ].join("\n"),
      );
      const r = await run([file, "--jobs", "1", "--format", "json"]);
      assert.equal(r.code, 1, r.stderr);
      const s = fromCliJson<SyncSummary>(r.stdout);
      // Two answers said 5 left, the third 1: three pulls started, the rest waited.
      assert.equal(s.images.copied, 3);
      assert.equal(s.skipped?.length, TAGS.length - 3);
      assert.deepEqual(s.failures, []);
      assert.match(
        r.stderr,
        /^skipped {5}docker:\/\/.*team\/big:t\d -> docker:\/\/.*floor\/team\/big:t\d: .* has 1 requests left \(RateLimit-Remaining\), at or below min-remaining 1$/m,
      );
      assert.match(r.stderr, /^dray: sync incomplete: 7 images skipped \(rate limit\)$/m);
      assert.equal((await listTags(regB, "floor/team/big")).length, 3);
    } finally {
      high.remove();
      low.remove();
    }
  });
});
