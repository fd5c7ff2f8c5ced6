// A whole mirror in one oci-archive (issue 15 item 6), against real
// registries and skopeo: every repository of a registry into one tar with
// ref.names REPO:TAG and the referrers; a second sync adds to it; --prune
// drops a name and the blobs only it used; and back out into another
// registry, digests unchanged.
import { fromCliJson } from "../helpers/summary.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { SyncSummary } from "../../src/sync/types.js";
import { buildImage, buildIndex, pushImage, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { homeEnv } from "../helpers/home.js";
import { dray, type DrayResult } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";
import { fetchManifest, listTags, pushSignedImage, type SignedImage } from "./artifacts.js";

function summaryOf(r: DrayResult): SyncSummary {
  assert.equal(r.code, 0, r.stderr);
  return fromCliJson<SyncSummary>(r.stdout);
}

/** The entries of a tar, as tar(1) lists them. */
function tarNames(file: string): string[] {
  return execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n");
}

describe("dray sync: a whole mirror in one oci-archive", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let regC: RegistryHandle;
  let dir: string;
  let home: string;
  let file: string;
  const app = new Map<string, BuiltImage>();
  let web: BuiltIndex;
  let signed: SignedImage;
  let extra: BuiltImage;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    home = isolateCredentials();
    dir = makeTempDir("dray-archive-mirror-");
    file = join(dir, "mirror.tar");
    [regA, regB, regC] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    for (const t of ["1.0", "1.1"]) {
      app.set(t, await buildImage({ seed: `archive-app-${t}` }));
      await pushImage(regA, "team/app", t, app.get(t)!);
    }
    web = await buildIndex({ seed: "archive-web", platforms: ["linux/amd64", "linux/arm64/v8"] });
    await pushImage(regA, "team/web", "latest", web);
    signed = await pushSignedImage(regA, "team/signed", "v1", "archive-signed");
    extra = await buildImage({ seed: "archive-extra" });
    await pushImage(regB, "team/app", "extra", extra);
  });

  const env = (): NodeJS.ProcessEnv => homeEnv(home);
  const run = (args: string[]): Promise<DrayResult> => dray(["sync", ...args], { env: env() });

  it("writes every image of every repository as REPO:TAG, referrers included; skopeo reads it", async () => {
    const r = await run([regA.host, `oci-archive:${file}`, "--format", "json"]);
    const s = summaryOf(r);
    assert.deepEqual(s.images, { copied: 4, upToDate: 0, failed: 0, planned: 0, refused: 0 });
    assert.ok(s.referrers.copied >= 2, JSON.stringify(s.referrers));
    const ls = await dray(["ls", `oci-archive:${file}`], { env: env() });
    assert.equal(ls.code, 0, ls.stderr);
    const names = ls.stdout.trim().split("\n").sort();
    assert.deepEqual(
      names,
      [
        "team/app:1.0",
        "team/app:1.1",
        `team/signed:sha256-${signed.hex}`,
        `team/signed:sha256-${signed.hex}.sig`,
        "team/signed:v1",
        "team/web:latest",
      ].sort(),
    );
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:team/app:1.1`), app.get("1.1")!.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:team/web:latest`), web.manifest.bytes);
    assert.ok(tarNames(file).includes(signed.sig.manifest.digest.blobPath), "the signature manifest is in the archive by digest");
    // One image out by its REPO:TAG name.
    const one = await dray(["copy", `oci-archive:${file}:team/app:1.0`, `oci:${join(dir, "one")}:1.0`], { env: env() });
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(await skopeoInspectRaw(`oci:${join(dir, "one")}:1.0`), app.get("1.0")!.manifest.bytes);
    process.stderr.write(
      `# sync ${regA.host} oci-archive:FILE: ${r.stderr.split("\n").find((l) => l.startsWith("Synced"))}; names: ${names.join(" ")}\n`,
    );
  });

  it("a second sync adds to the archive; the first one's images stay", async () => {
    const r = await run([`${regB.host}/team/app`, `oci-archive:${file}`, "--format", "json"]);
    assert.deepEqual(summaryOf(r).images, { copied: 1, upToDate: 0, failed: 0, planned: 0, refused: 0 });
    const written = statSync(file);
    const again = await run([regA.host, `oci-archive:${file}`, "--format", "json"]);
    assert.deepEqual(summaryOf(again).images, { copied: 0, upToDate: 4, failed: 0, planned: 0, refused: 0 });
    // Nothing changed, so nothing is packed: a 100 GB mirror is not rewritten (nor needs its size free again) on a quiet night.
    const after = statSync(file);
    assert.deepEqual([after.ino, after.mtimeMs], [written.ino, written.mtimeMs], "an up-to-date sync left the archive file as it was");
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:team/app:extra`), extra.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:team/app:1.0`), app.get("1.0")!.manifest.bytes);
  });

  it("back out into a registry: every repository, tag and referrer, digests unchanged", async () => {
    const r = await run([`oci-archive:${file}`, `${regC.host}/restored`, "--format", "json"]);
    const s = summaryOf(r);
    assert.deepEqual(s.images, { copied: 5, upToDate: 0, failed: 0, planned: 0, refused: 0 });
    assert.deepEqual(await listTags(regC, "restored/team/app"), ["1.0", "1.1", "extra"]);
    assert.deepEqual(await listTags(regC, "restored/team/signed"), [`sha256-${signed.hex}`, `sha256-${signed.hex}.sig`, "v1"]);
    for (const [repo, tag] of [
      ["team/app", "1.0"],
      ["team/web", "latest"],
      ["team/signed", "v1"],
      ["team/signed", `sha256-${signed.hex}`],
    ] as const) {
      assert.deepEqual(await fetchManifest(regC, `restored/${repo}`, tag), await fetchManifest(regA, repo, tag), `${repo}:${tag}`);
    }
    assert.deepEqual(await fetchManifest(regC, "restored/team/signed", signed.sig.manifest.digest.toString()), signed.sig.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`docker://${regC.host}/restored/team/app:extra`, { tlsVerify: false }), extra.manifest.bytes);
    process.stderr.write(`# sync oci-archive:FILE ${regC.host}/restored: ${r.stderr.split("\n").find((l) => l.startsWith("Synced"))}\n`);
  });

  it("--prune drops the name and the blobs nothing else in the archive uses", async () => {
    const configBlob = extra.config.digest.blobPath;
    assert.ok(tarNames(file).includes(configBlob));
    const dry = await run([`${regA.host}/team/app`, `oci-archive:${file}`, "--prune", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, `prune oci-archive:${file}:team/app:extra\n`);
    const r = await run([`${regA.host}/team/app`, `oci-archive:${file}`, "--prune"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^pruned {6}oci-archive:.*mirror\.tar:team\/app:extra sha256:/m);
    const names = tarNames(file);
    assert.equal(names.includes(configBlob), false, "the pruned image's config left the archive");
    assert.ok(names.includes(app.get("1.0")!.config.digest.blobPath));
    const ls = await dray(["ls", `oci-archive:${file}`], { env: env() });
    assert.ok(!ls.stdout.includes("team/app:extra") && ls.stdout.includes("team/web:latest"), ls.stdout);
    assert.deepEqual(await skopeoInspectRaw(`oci-archive:${file}:team/signed:v1`), signed.img.manifest.bytes);
  });
});
