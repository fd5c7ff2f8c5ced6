// Exact mirrors (issue 15) through the command line against real registries
// (distribution 2.8, deletes enabled at the destination) with a counting
// proxy in front of each: --exclude, --skip-existing (requests counted at the
// source), --prune with its safety rules, --shard K/N run three at once.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { SyncSummary } from "../../src/sync/types.js";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, type DrayResult } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";
import { fetchManifest, listTags } from "./artifacts.js";

function since(p: FaultProxy, from: number, method: string, path?: RegExp): number {
  return p.log.slice(from).filter((e) => e.method === method && (path === undefined || path.test(e.path))).length;
}

function summaryOf(r: DrayResult): SyncSummary {
  assert.ok(r.stdout.startsWith("{"), `no JSON summary (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as SyncSummary;
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
  });

  const env = (): NodeJS.ProcessEnv => ({ HOME: home, DOCKER_CONFIG: join(home, ".docker"), XDG_CONFIG_HOME: join(home, ".config"), XDG_RUNTIME_DIR: join(home, "run") });
  const run = (args: string[]): Promise<DrayResult> => dray(["sync", ...args], { env: env() });

  it("--exclude (repeatable) and tags.exclude leave out what they match, named tags included", async () => {
    const r = await run([`${a.host}/team/app`, `${b.host}/ex/team/app`, "--exclude", "-rc", "--exclude", "^dev$", "--format", "json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(summaryOf(r).images, { copied: 3, upToDate: 0, failed: 0, planned: 0 });
    assert.deepEqual(await listTags(regB, "ex/team/app"), ["1.0.0", "1.1.0", "latest"]);
    assert.deepEqual(await skopeoInspectRaw(`docker://${regB.host}/ex/team/app:1.1.0`, { tlsVerify: false }), app.get("1.1.0")!.manifest.bytes);
    process.stderr.write(`# --exclude: ${r.stderr.split("\n").find((l) => l.startsWith("Synced"))}\n`);

    const file = join(dir, "exclude.yaml");
    await writeFile(file, [`destination: ${b.host}/ex2`, "sync:", `  - source: ${a.host}/team/app`, "    tags: { names: [dev, latest], exclude: ['^dev'] }", ""].join("\n"));
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
});
