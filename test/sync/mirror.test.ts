// Exact mirrors (issue 15) through the command line against real registries
// (distribution 2.8, deletes enabled at the destination) with a counting
// proxy in front of each: --exclude, --skip-existing (requests counted at the
// source), --prune with its safety rules, --shard K/N run three at once.
import { fromCliJson } from "../helpers/summary.js";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { SyncSummary } from "../../src/sync/types.js";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { homeEnv } from "../helpers/home.js";
import { dray, type DrayResult } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";
import { fetchManifest, listTags, pushSignedImage } from "./artifacts.js";

function since(p: FaultProxy, from: number, method: string, path?: RegExp): number {
  return p.log.slice(from).filter((e) => e.method === method && (path === undefined || path.test(e.path))).length;
}

function summaryOf(r: DrayResult): SyncSummary {
  assert.ok(r.stdout.startsWith("{"), `no JSON summary (exit ${r.code}):\n${r.stderr}`);
  return fromCliJson<SyncSummary>(r.stdout);
}

function synced(s: SyncSummary): string[] {
  return s.items
    .filter((i) => i.outcome === "copied" || i.outcome === "up-to-date")
    .map((i) => i.destination)
    .sort();
}

describe("dray sync: exact mirrors", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let a: FaultProxy;
  let b: FaultProxy;
  let dir: string;
  let home: string;
  const app = new Map<string, BuiltImage>();
  const prune = new Map<string, BuiltImage>();

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    home = isolateCredentials();
    dir = makeTempDir("dray-mirror-");
    [regA, regB] = await Promise.all([startRegistry(), startRegistry({ deleteEnabled: true })]);
    [a, b] = await Promise.all([startProxy(regA), startProxy(regB)]);
    for (const t of ["1.0.0", "1.1.0", "1.2.0-rc.1", "dev"]) {
      app.set(t, await buildImage({ seed: `mirror-app-${t}` }));
      await pushImage(regA, "team/app", t, app.get(t)!);
    }
    app.set("latest", app.get("1.1.0")!);
    await pushImage(regA, "team/app", "latest", app.get("latest")!);
    for (const t of ["s1", "s2", "s3"]) await pushImage(regA, "team/skip", t, await buildImage({ seed: `mirror-skip-${t}` }));
    for (const t of ["p1", "p2", "p3"]) {
      prune.set(t, await buildImage({ seed: `mirror-prune-${t}` }));
      await pushImage(regA, "team/prune", t, prune.get(t)!);
    }
    prune.set("keep", prune.get("p2")!);
    await pushImage(regA, "team/prune", "keep", prune.get("keep")!);
  });

  const env = (): NodeJS.ProcessEnv => homeEnv(home);
  const run = (args: string[]): Promise<DrayResult> => dray(["sync", ...args], { env: env() });

  it("--exclude (repeatable) and tags.exclude leave out what they match, named tags included", async () => {
    const r = await run([`${a.host}/team/app`, `${b.host}/ex/team/app`, "--exclude", "-rc", "--exclude", "^dev$", "--format", "json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(summaryOf(r).images, { copied: 3, upToDate: 0, failed: 0, planned: 0, refused: 0 });
    assert.deepEqual(await listTags(regB, "ex/team/app"), ["1.0.0", "1.1.0", "latest"]);
    assert.deepEqual(
      await skopeoInspectRaw(`docker://${regB.host}/ex/team/app:1.1.0`, { tlsVerify: false }),
      app.get("1.1.0")!.manifest.bytes,
    );
    process.stderr.write(`# --exclude: ${r.stderr.split("\n").find((l) => l.startsWith("Synced"))}\n`);

    const file = join(dir, "exclude.yaml");
    await writeFile(
      file,
      [
        `destination: ${b.host}/ex2`,
        "sync:",
        `  - source: ${a.host}/team/app`,
        "    tags: { names: [dev, latest], exclude: ['^dev'] }",
        "",
      ].join("\n"),
    );
    const y = await run([file, "--format", "json"]);
    assert.equal(y.code, 0, y.stderr);
    const s = summaryOf(y);
    assert.deepEqual(s.failures, [], "an excluded name is not reported missing");
    assert.deepEqual(await listTags(regB, "ex2/team/app"), ["latest"]);
    assert.equal(await fetchManifest(regB, "ex2/team/app", "dev"), undefined);

    const bad = await run([`${a.host}/team/app`, `${b.host}/ex3/team/app`, "--exclude", "("]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^dray: invalid regular expression "\("/m);
  });

  it("--skip-existing: one tag list at the source, no manifest request for the tags the destination has", async () => {
    const first = await run([`${a.host}/team/skip`, `${b.host}/se/team/skip`]);
    assert.equal(first.code, 0, first.stderr);
    // The source moves s1 and adds s4: s1 stays as it is at the destination, s4 arrives.
    const moved = await buildImage({ seed: "mirror-skip-s1-moved" });
    await pushImage(regA, "team/skip", "s1", moved);
    await pushImage(regA, "team/skip", "s4", await buildImage({ seed: "mirror-skip-s4" }));
    const before1 = await fetchManifest(regB, "se/team/skip", "s1");
    const fromA = a.log.length;
    const r = await run([`${a.host}/team/skip`, `${b.host}/se/team/skip`, "--skip-existing", "--format", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = summaryOf(r);
    assert.deepEqual(s.images, { copied: 1, upToDate: 3, failed: 0, planned: 0, refused: 0 });
    assert.deepEqual(
      s.items
        .filter((i) => i.existing)
        .map((i) => i.tag)
        .sort(),
      ["s1", "s2", "s3"],
    );
    assert.match(r.stderr, /^exists {6}docker:\/\/.*team\/skip:s2 -> docker:\/\/.*se\/team\/skip:s2$/m);
    const sourceLog = a.log.slice(fromA).map((e) => `${e.method} ${e.path}`);
    assert.equal(since(a, fromA, "GET", /\/tags\/list/), 1, sourceLog.join("\n"));
    assert.deepEqual(
      sourceLog.filter((l) => /\/manifests\/s[123]\b/.test(l)),
      [],
      "no manifest request for a tag the destination has",
    );
    assert.ok(since(a, fromA, "HEAD", /\/manifests\/s4$/) + since(a, fromA, "GET", /\/manifests\/s4$/) >= 1);
    assert.deepEqual(await fetchManifest(regB, "se/team/skip", "s1"), before1, "s1 left alone");
    assert.deepEqual(
      await skopeoInspectRaw(`docker://${regB.host}/se/team/skip:s4`, { tlsVerify: false }),
      await fetchManifest(regA, "team/skip", "s4"),
    );
    process.stderr.write(
      `# --skip-existing: ${r.stderr.split("\n").find((l) => l.startsWith("Synced"))}; source requests: ${sourceLog.join(", ")}\n`,
    );
  });

  it("--prune removes only the tags the source lost, never a digest a kept tag points at; --dry-run lists them", async () => {
    const dst = `${b.host}/pr/team/prune`;
    assert.equal((await run([`${a.host}/team/prune`, dst])).code, 0);
    // At the destination only: `old-shared` on the digest `keep` and `p2` point at, `old` on an image of its own, `manual-1` excluded.
    await pushImage(regB, "pr/team/prune", "old-shared", prune.get("keep")!);
    const old = await buildImage({ seed: "mirror-prune-old" });
    await pushImage(regB, "pr/team/prune", "old", old);
    await pushImage(regB, "pr/team/prune", "manual-1", old);
    const all = ["keep", "manual-1", "old", "old-shared", "p1", "p2", "p3"];

    const dry = await run([`${a.host}/team/prune`, dst, "--prune", "--exclude", "^manual", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, `prune docker://${dst}:old\nprune docker://${dst}:old-shared\n`);
    assert.deepEqual(await listTags(regB, "pr/team/prune"), all, "a dry run deletes nothing");

    const r = await run([`${a.host}/team/prune`, dst, "--prune", "--exclude", "^manual", "--format", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = summaryOf(r);
    assert.deepEqual(s.prune, { pruned: 2, planned: 0, failed: 0 });
    assert.deepEqual(await listTags(regB, "pr/team/prune"), ["keep", "manual-1", "p1", "p2", "p3"]);
    // The shared digest is untouched: keep and p2 still name it, byte for byte.
    for (const t of ["keep", "p2"])
      assert.deepEqual(
        await skopeoInspectRaw(`docker://${regB.host}/pr/team/prune:${t}`, { tlsVerify: false }),
        prune.get("keep")!.manifest.bytes,
      );
    assert.deepEqual(await fetchManifest(regB, "pr/team/prune", "manual-1"), old.manifest.bytes);
    assert.match(r.stderr, /^pruned {6}docker:\/\/.*pr\/team\/prune:old-shared sha256:/m);
    assert.match(r.stderr, /tags 2 pruned, 0 left/);
    process.stderr.write(
      `# --prune: ${dry.stdout.trim().split("\n").join("; ")}; then ${r.stderr.split("\n").find((l) => l.startsWith("Synced"))}\n`,
    );
  });

  it("--prune prunes nothing when the source listing fails or is empty, and says so", async () => {
    const dst = `${b.host}/pr2/team/prune`;
    assert.equal((await run([`${a.host}/team/prune`, dst])).code, 0);
    await pushImage(regB, "pr2/team/prune", "stale", await buildImage({ seed: "mirror-prune-stale" }));
    const tags = await listTags(regB, "pr2/team/prune");
    const failing = a.addRule({ path: "/v2/team/prune/tags/list", action: { kind: "status", status: 500, body: "down" } });
    try {
      const r = await run([`${a.host}/team/prune`, dst, "--prune"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^no prune {4}docker:\/\/.*pr2\/team\/prune: the source's tag list failed$/m);
    } finally {
      failing.remove();
    }
    const empty = a.addRule({
      method: "GET",
      path: "/v2/team/prune/tags/list",
      action: { kind: "replaceBody", body: () => Buffer.from(JSON.stringify({ name: "team/prune", tags: [] })) },
    });
    try {
      const r = await run([`${a.host}/team/prune`, dst, "--prune"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^no prune {4}docker:\/\/.*pr2\/team\/prune: the source lists no tags$/m);
    } finally {
      empty.remove();
    }
    assert.deepEqual(await listTags(regB, "pr2/team/prune"), tags, "nothing pruned");
    // A registry that refuses the delete: the tag goes back to its image and is reported left in place.
    const refuse = b.addRule({
      method: "DELETE",
      action: { kind: "status", status: 405, body: '{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}' },
    });
    try {
      const r = await run([`${a.host}/team/prune`, dst, "--prune"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^FAILED {6}prune docker:\/\/.*pr2\/team\/prune:stale: tag left in place: /m);
    } finally {
      refuse.remove();
    }
    assert.deepEqual(await listTags(regB, "pr2/team/prune"), tags);
    const stale = await fetchManifest(regB, "pr2/team/prune", "stale");
    assert.ok(stale && !stale.toString().includes("dev.dray.prune"), "the tag is back on its own image");
  });

  it("--prune in an oci: layout drops the reference and the blobs nothing references", async () => {
    const layout = join(dir, "layout");
    assert.equal((await run([`${a.host}/team/prune`, `oci:${layout}`])).code, 0);
    const stray = await buildImage({ seed: "mirror-prune-layout-stray" });
    await pushImage(regA, "team/stray", "x", stray);
    const copied = await dray(["copy", `${a.host}/team/stray:x`, `oci:${layout}:gone`], { env: env() });
    assert.equal(copied.code, 0, copied.stderr);
    const configPath = join(layout, "blobs", "sha256", stray.config.digest.hex);
    assert.ok(existsSync(configPath));
    const r = await run([`${a.host}/team/prune`, `oci:${layout}`, "--prune"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^pruned {6}oci:.*layout:gone sha256:/m);
    assert.equal(existsSync(configPath), false, "the stray image's config went with its reference");
    const ls = await dray(["ls", `oci:${layout}`], { env: env() });
    assert.deepEqual(ls.stdout.trim().split("\n").sort(), ["keep", "p1", "p2", "p3"]);
    assert.deepEqual(await skopeoInspectRaw(`oci:${layout}:p2`), prune.get("p2")!.manifest.bytes);
  });

  it("--shard K/N: three shards at once do exactly one full sync, each image once, referrers with their subject", async () => {
    for (const t of ["v1", "v2", "v3", "v4"]) await pushSignedImage(regA, "team/signed", t, `mirror-shard-${t}`);
    const shards = await Promise.all([1, 2, 3].map((k) => run([a.host, `${b.host}/sh`, "--shard", `${k}/3`, "--format", "json"])));
    for (const r of shards) assert.equal(r.code, 0, r.stderr);
    const full = await run([a.host, `${b.host}/full`, "--format", "json"]);
    assert.equal(full.code, 0, full.stderr);
    const summaries = shards.map(summaryOf);
    assert.deepEqual(
      summaries.map((s) => s.shard),
      [1, 2, 3].map((index) => ({ index, count: 3 })),
    );
    const fullImages = synced(summaryOf(full)).map((d) => d.replace(`${b.host}/full/`, "~/"));
    const shardImages = summaries.flatMap(synced).map((d) => d.replace(`${b.host}/sh/`, "~/"));
    assert.equal(new Set(shardImages).size, shardImages.length, "no image taken by two shards");
    assert.deepEqual(shardImages.sort(), fullImages, "the shards together took what one full sync takes");
    assert.ok(
      summaries.every((s) => s.items.length > 0 && s.items.length < fullImages.length),
      `split ${summaries.map((s) => s.items.length).join("/")}`,
    );
    // Every repository's tags, referrer tags included, are the same under both prefixes.
    for (const repo of ["team/app", "team/skip", "team/prune", "team/stray", "team/signed"]) {
      assert.deepEqual(await listTags(regB, `sh/${repo}`), await listTags(regB, `full/${repo}`), repo);
    }
    const referrersOf = (s: SyncSummary): number => s.referrers.copied;
    assert.equal(
      summaries.map(referrersOf).reduce((x, y) => x + y, 0),
      referrersOf(summaryOf(full)),
    );
    assert.deepEqual(
      await skopeoInspectRaw(`docker://${regB.host}/sh/team/signed:v3`, { tlsVerify: false }),
      await fetchManifest(regA, "team/signed", "v3"),
    );
    process.stderr.write(
      `# --shard: ${shards.map((r) => r.stderr.split("\n").find((l) => l.startsWith("Synced"))).join(" | ")} | full: ${full.stderr.split("\n").find((l) => l.startsWith("Synced"))}\n`,
    );
  });
});
