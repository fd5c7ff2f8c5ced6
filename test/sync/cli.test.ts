// `dray sync` as a user runs it (child process) against real registries:
// a YAML file with three repositories, a second run with nothing to do
// (requests counted at the proxies), a failing repository reported while the
// rest land (exit 1), and the air-gapped round trip: sync to oci:DIR, then
// from it into another registry, referrers and digests intact.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";

/** The parts of `dray sync --format json` these tests read (skopeo-style keys). */
interface SyncJson {
  Repositories: number;
  Images: Record<string, number>;
  Referrers: Record<string, number>;
}
import { buildImage, buildIndex, pushImage, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { homeEnv } from "../helpers/home.js";
import { dray } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";
import {
  SIGNATURE_TYPE,
  buildArtifact,
  buildCosignSignature,
  buildReferrersIndex,
  fetchManifest,
  listTags,
  pushArtifact,
  putManifest,
  type BuiltArtifact,
} from "./artifacts.js";

function since(p: FaultProxy, from: number, method: string, path?: RegExp): number {
  return p.log.slice(from).filter((e) => e.method === method && (path === undefined || path.test(e.path))).length;
}

function byMethod(p: FaultProxy, from: number): string {
  const m = new Map<string, number>();
  for (const e of p.log.slice(from)) m.set(e.method, (m.get(e.method) ?? 0) + 1);
  return [...m].map(([k, v]) => `${k} ${v}`).join(", ");
}

describe("dray sync (command line)", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let a: FaultProxy;
  let b: FaultProxy;
  let dir: string;
  let file: string;
  let home: string;
  const app = new Map<string, BuiltImage>();
  let web: BuiltIndex;
  let sig: BuiltArtifact;
  let cosign: BuiltArtifact;
  let sigIndex: ReturnType<typeof buildReferrersIndex>;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    home = isolateCredentials();
    dir = makeTempDir("dray-sync-cli-");
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    [a, b] = await Promise.all([startProxy(regA), startProxy(regB)]);
    for (const t of ["1.0.0", "1.2.0", "1.3.0", "2.0.0"]) {
      app.set(t, await buildImage({ seed: `cli-app-${t}` }));
      await pushImage(regA, "team/app", t, app.get(t)!);
    }
    for (const t of ["v1.0", "v1.1", "v2.0"]) await pushImage(regA, "team/tool", t, await buildImage({ seed: `cli-tool-${t}` }));
    web = await buildIndex({ seed: "cli-web", platforms: ["linux/amd64", "linux/arm64/v8"] });
    await pushImage(regA, "team/web", "latest", web);
    await pushImage(regA, "team/web", "old", await buildImage({ seed: "cli-web-old" }));
    const subject = app.get("1.3.0")!.manifest;
    sig = buildArtifact(subject, SIGNATURE_TYPE, "cli-sig");
    await pushArtifact(regA, "team/app", sig);
    sigIndex = buildReferrersIndex([sig]);
    await putManifest(regA, "team/app", `sha256-${subject.digest.hex}`, sigIndex);
    cosign = buildCosignSignature(subject, "cli-cosign");
    await pushArtifact(regA, "team/app", cosign, `sha256-${subject.digest.hex}.sig`);
    file = join(dir, "sync.yaml");
    await writeFile(
      file,
      [
        `# three repositories of ${a.host}`,
        `destination: ${b.host}/mirror`,
        "registries:",
        `  ${a.host}:`,
        "    retries: 0",
        "sync:",
        `  - source: ${a.host}/team/app`,
        "    tags: { semver: '>=1.2.0 <2' }",
        `  - source: ${a.host}/team/tool`,
        "    tags: { regex: '^v1\\.' }",
        `  - source: ${a.host}/team/web`,
        "    tags: [latest]",
        "",
      ].join("\n"),
    );
  });

  const env = (): NodeJS.ProcessEnv => homeEnv(home);

  it("first run copies what the filters take, with the referrers; second run finds nothing to do", async () => {
    let fromA = a.log.length;
    let fromB = b.log.length;
    const r1 = await dray(["sync", "--file", file, "--format", "json"], { env: env() });
    assert.equal(r1.code, 0, r1.stderr);
    // skopeo's capitalised keys, like every other command's JSON (issue 19, bug 3)
    const s1 = JSON.parse(r1.stdout) as SyncJson;
    assert.deepEqual(s1.Images, { Copied: 5, UpToDate: 0, Failed: 0, Planned: 0, Refused: 0 });
    assert.deepEqual(s1.Referrers, { Copied: 2, UpToDate: 0, Failed: 0, Planned: 0 });
    assert.match(r1.stderr, /^copied {6}docker:\/\/.*team\/app:1\.3\.0 -> docker:\/\/.*mirror\/team\/app:1\.3\.0 sha256:/m);
    assert.match(r1.stderr, /^copied {6}referrer sha256-[0-9a-f]{64}\.sig of sha256:/m);
    assert.match(
      r1.stderr,
      /Synced 3 repositories in [\d.]+ s: images 5 copied, 0 up to date, 0 failed; referrers 2 copied, 0 up to date, 0 failed; blobs \d+ copied/,
    );
    process.stderr.write(
      `# CLI first sync: ${r1.stderr
        .split("\n")
        .filter((l) => l.startsWith("Synced"))
        .join("")}; source ${byMethod(a, fromA)}; destination ${byMethod(b, fromB)}\n`,
    );
    const h = app.get("1.3.0")!.manifest.digest.hex;
    assert.deepEqual(await listTags(regB, "mirror/team/app"), ["1.2.0", "1.3.0", `sha256-${h}`, `sha256-${h}.sig`]);
    // dray ls sees the referrer tags; the referrers index lists the signature by digest.
    const ls = await dray(["ls", `${b.host}/mirror/team/app`], { env: env() });
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(ls.stdout.includes(`sha256-${h}.sig\n`) && ls.stdout.includes(`sha256-${h}\n`));
    assert.deepEqual(await fetchManifest(regB, "mirror/team/app", `sha256-${h}`), sigIndex.bytes);
    assert.deepEqual(await fetchManifest(regB, "mirror/team/app", sig.manifest.digest.toString()), sig.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`docker://${regB.host}/mirror/team/web:latest`, { tlsVerify: false }), web.manifest.bytes);

    fromA = a.log.length;
    fromB = b.log.length;
    const r2 = await dray(["sync", "--file", file], { env: env() });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout, "");
    assert.match(r2.stderr, /images 0 copied, 5 up to date, 0 failed; referrers 0 copied, 1 up to date, 0 failed; blobs 0 copied/);
    // 5 image tags + 2 referrer tags: one HEAD each, on each side; no manifest read, nothing written.
    assert.equal(since(a, fromA, "HEAD"), 7);
    assert.equal(since(b, fromB, "HEAD"), 7);
    assert.equal(since(a, fromA, "GET", /\/manifests\//) + since(b, fromB, "GET", /\/manifests\//), 0);
    // -f, as on every command that prints something (issue 19).
    const r3 = await dray(["sync", "--file", file, "-f", "json"], { env: env() });
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual((JSON.parse(r3.stdout) as SyncJson).Images, { Copied: 0, UpToDate: 5, Failed: 0, Planned: 0, Refused: 0 });
    assert.equal(since(b, fromB, "PUT") + since(b, fromB, "POST") + since(b, fromB, "PATCH"), 0);
    process.stderr.write(
      `# CLI second sync: ${r2.stderr
        .split("\n")
        .filter((l) => l.startsWith("Synced"))
        .join("")}; source ${byMethod(a, fromA)}; destination ${byMethod(b, fromB)}\n`,
    );
  });

  it("a failing repository is reported, the others land, exit 1", async () => {
    a.addRule({ path: "/v2/team/tool/", action: { kind: "status", status: 500, body: "down" } });
    try {
      const r = await dray(["sync", "--file", file, "--dest", `${b.host}/partial`], { env: env() });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^FAILED {6}docker:\/\/.*team\/tool -> docker:\/\/.*partial\/team\/tool: .*HTTP 500/m);
      assert.match(r.stderr, /images 3 copied, 0 up to date, 0 failed; .*\n {2}failed: docker:\/\/.*team\/tool: /);
      assert.match(r.stderr, /^dray: sync incomplete: 1 failure \(listed above\)$/m);
      assert.deepEqual(await listTags(regB, "partial/team/web"), ["latest"]);
      assert.equal((await listTags(regB, "partial/team/app")).length, 4);
      assert.deepEqual(await listTags(regB, "partial/team/tool"), []);
      process.stderr.write(
        `# CLI failing repository: ${r.stderr
          .split("\n")
          .filter((l) => /FAILED|failed:|incomplete/.test(l))
          .join(" | ")}\n`,
      );
    } finally {
      a.clearRules();
    }
  });

  it("air-gapped: sync to oci:DIR, carry it, sync from it; digests and referrers intact", async () => {
    const usb = join(dir, "usb");
    const out = await dray(["sync", "--file", file, "--dest", `oci:${usb}`, "--progress", "none", "--format", "json"], { env: env() });
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stderr, /^Synced 3 repositories/);
    const h = app.get("1.3.0")!.manifest.digest.hex;
    const ls = await dray(["ls", `oci:${join(usb, "team", "app")}`], { env: env() });
    assert.deepEqual(ls.stdout.trim().split("\n").sort(), ["1.2.0", "1.3.0", `sha256-${h}`, `sha256-${h}.sig`]);
    assert.deepEqual(await skopeoInspectRaw(`oci:${join(usb, "team", "app")}:1.3.0`), app.get("1.3.0")!.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${join(usb, "team", "web")}:latest`), web.manifest.bytes);

    const back = await dray(["sync", `oci:${usb}`, `${b.host}/restored`, "--format", "json"], { env: env() });
    assert.equal(back.code, 0, back.stderr);
    const s = JSON.parse(back.stdout) as SyncJson;
    assert.equal(s.Repositories, 3);
    assert.deepEqual(s.Images, { Copied: 5, UpToDate: 0, Failed: 0, Planned: 0, Refused: 0 });
    assert.deepEqual(s.Referrers, { Copied: 2, UpToDate: 0, Failed: 0, Planned: 0 });
    assert.deepEqual(await listTags(regB, "restored/team/app"), ["1.2.0", "1.3.0", `sha256-${h}`, `sha256-${h}.sig`]);
    assert.deepEqual(await fetchManifest(regB, "restored/team/app", `sha256-${h}`), sigIndex.bytes);
    assert.deepEqual(await fetchManifest(regB, "restored/team/app", `sha256-${h}.sig`), cosign.manifest.bytes);
    assert.deepEqual(await fetchManifest(regB, "restored/team/web", "latest"), web.manifest.bytes);

    const again = await dray(["sync", `oci:${usb}`, `${b.host}/restored`], { env: env() });
    assert.equal(again.code, 0, again.stderr);
    // Both referrers the first run copied (the artifact and cosign's .sig) are reported up to date, each once.
    assert.match(again.stderr, /images 0 copied, 5 up to date, 0 failed; referrers 0 copied, 2 up to date, 0 failed/);
  });

  it("SRC DST without a file, with --tag-regex, and --dry-run prints the plan", async () => {
    const plan = await dray(["sync", `${a.host}/team/tool`, `${b.host}/single/tool`, "--tag-regex", "^v2", "--dry-run"], { env: env() });
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(plan.stdout, `copy docker://${a.host}/team/tool:v2.0 docker://${b.host}/single/tool:v2.0\n`);
    assert.deepEqual(await listTags(regB, "single/tool"), []);
    const r = await dray(["sync", `${a.host}/team/tool`, `${b.host}/single/tool`, "--tag-regex", "^v2"], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listTags(regB, "single/tool"), ["v2.0"]);
  });

  it("--semver '>=2.1-rc' takes the pre-release and later versions; a filter that matches nothing says so, exit 0 (issue 19, bug 5)", async () => {
    for (const t of ["2.0.0", "2.1-rc", "2.1.0"]) await pushImage(regA, "team/pre", t, await buildImage({ seed: `cli-pre-${t}` }));
    const r = await dray(["sync", `${a.host}/team/pre`, `${b.host}/pre/app`, "--semver", ">=2.1-rc"], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listTags(regB, "pre/app"), ["2.1-rc", "2.1.0"]);
    const none = await dray(["sync", `${a.host}/team/pre`, `${b.host}/pre/none`, "--semver", ">=9"], { env: env() });
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /no tag of .*team\/pre matches semver ">=9"/);
  });

  it("a missing ca-file or authfile under registries: is one located exit-2 error before any request (issue 19)", async () => {
    for (const [key, value, why] of [
      ["ca-file", join(dir, "no-such-ca.pem"), "does not exist"],
      ["authfile", join(dir, "no-such-auth.json"), "does not exist"],
      ["authfile", dir, "is a directory, not a file"],
      ["ca-file", file, "holds no PEM certificate"],
    ] as const) {
      const conf = join(dir, `settings-${key}.yaml`);
      const repos = ["team/app", "team/tool", "team/web"].map((r) => `  - source: ${a.host}/${r}\n`).join("");
      await writeFile(conf, `destination: ${b.host}/m\nregistries:\n  ${a.host}:\n    ${key}: ${value}\nsync:\n${repos}`);
      const before = a.log.length + b.log.length;
      const r = await dray(["sync", conf], { env: env() });
      assert.equal(r.code, 2, r.stderr);
      const line = new RegExp(`^dray: .*settings-${key}\\.yaml:4:\\d+: registries\\..*\\.${key}: .* ${why.replace(/[()]/g, "\\$&")}`);
      assert.match(r.stderr, line);
      assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("dray:")).length, 1, `one line, not one per repository:\n${r.stderr}`);
      assert.equal(a.log.length + b.log.length, before, "no request was made");
    }
  });

  it("a bad file is a usage error naming the line", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, `sync:\n  - source: ${a.host}/x\n    destination: ${b.host}\n    tags: { semver: 'nope' }\n`);
    const r = await dray(["sync", bad], { env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dray: .*bad\.yaml:4:21: sync\[0\]\.tags\.semver: invalid semver range "nope"\n$/);
  });
});
