// Mirrors for reads (issue 30 item 4): a containers-registries.conf(5) v2 file
// (--registries-conf) and a sync file's `mirrors:` block, against three real
// registries: the upstream, a mirror holding the same image under another
// path, and a destination. `--debug` shows which host served each request.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dray, drayOk } from "../cli/run.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { freePort, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeo } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";

/** The hosts `--debug` shows manifest requests going to. */
function manifestHosts(stderr: string): string[] {
  return [...stderr.matchAll(/^(?:GET|HEAD) https?:\/\/([^/]+)\/v2\/\S+\/manifests\//gm)].map((m) => m[1]!);
}

describe("mirrors for reads (registries.conf v2, sync mirrors:)", () => {
  let upstream: RegistryHandle;
  let mirror: RegistryHandle;
  let dest: RegistryHandle;
  let dir: string;
  let digest: string;
  let deadPort: number;

  before(async () => {
    [upstream, mirror, dest] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    const built = await buildImage({ seed: "mirrors" });
    digest = (await pushImage(upstream, "team/app", "v1", built)).toString();
    await pushImage(mirror, "hub/team/app", "v1", built);
    deadPort = await freePort();
    dir = makeTempDir("dray-mirrors-");
  });
  after(async () => {
    await Promise.all([upstream?.stop(), mirror?.stop(), dest?.stop()]);
  });

  function conf(name: string, body: string): string {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  }

  const entry = (mirrors: string): string =>
    `[[registry]]\nprefix = "${upstream.host}/team"\nlocation = "${upstream.host}/team"\n${mirrors}`;
  const mirrorOf = (location: string, pull?: string): string =>
    `[[registry.mirror]]\nlocation = "${location}"\n${pull ? `pull-from-mirror = "${pull}"\n` : ""}`;

  it("reads from the mirror first and says so; the copy's JSON names it", async () => {
    const file = conf("one.conf", entry(mirrorOf(`${mirror.host}/hub/team`)));
    const r = await drayOk(
      [
        "copy",
        `docker://${upstream.host}/team/app:v1`,
        `docker://${dest.host}/copied/app:v1`,
        "--registries-conf",
        file,
        "--debug",
        "--format",
        "json",
      ],
      {},
    );
    const json = JSON.parse(r.stdout) as { Digest: string; ServedBy: string | null };
    assert.equal(json.Digest, digest);
    assert.equal(json.ServedBy, `docker://${mirror.host}/hub/team/app:v1`);
    assert.match(r.stderr, new RegExp(`read from mirror docker://${mirror.host}/hub/team/app:v1`));
    const reads = manifestHosts(r.stderr).filter((h) => h !== dest.host);
    assert.deepEqual([...new Set(reads)], [mirror.host], r.stderr);
    assertSkopeoOk(await skopeo(["inspect", "--raw", `docker://${dest.host}/copied/app:v1`], { tlsVerify: false }));
  });

  it("falls through a failing mirror to the next and then to the registry, one notice each", async () => {
    const file = conf("dead.conf", entry(mirrorOf(`127.0.0.1:${deadPort}/nothing`) + mirrorOf(`${mirror.host}/hub/team`)));
    let r = await drayOk(["digest", `docker://${upstream.host}/team/app:v1`, "--registries-conf", file, "--retries", "0"]);
    assert.equal(r.stdout.trim(), digest);
    assert.match(
      r.stderr,
      new RegExp(
        `mirror docker://127\\.0\\.0\\.1:${deadPort}/nothing/app:v1 failed \\(.*\\); trying mirror docker://${mirror.host}/hub/team/app:v1`,
      ),
    );
    const missing = conf("missing.conf", entry(mirrorOf(`${mirror.host}/elsewhere`)));
    r = await drayOk(["digest", `docker://${upstream.host}/team/app:v1`, "--registries-conf", missing]);
    assert.equal(r.stdout.trim(), digest);
    assert.match(
      r.stderr,
      new RegExp(`mirror docker://${mirror.host}/elsewhere/app:v1 failed .*; trying docker://${upstream.host}/team/app:v1`),
    );
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });

  it("pull-from-mirror = digest-only: a tag is read from the registry, a digest from the mirror", async () => {
    const file = conf("digest-only.conf", entry(mirrorOf(`${mirror.host}/hub/team`, "digest-only")));
    let r = await drayOk(["inspect", "--raw", `docker://${upstream.host}/team/app:v1`, "--registries-conf", file, "--debug"]);
    assert.deepEqual([...new Set(manifestHosts(r.stderr))], [upstream.host], r.stderr);
    r = await drayOk(["inspect", "--raw", `docker://${upstream.host}/team/app@${digest}`, "--registries-conf", file, "--debug"]);
    assert.deepEqual([...new Set(manifestHosts(r.stderr))], [mirror.host], r.stderr);
  });

  it("never reads from a mirror that is the run's destination", async () => {
    const file = conf("dest.conf", entry(mirrorOf(`${mirror.host}/hub/team`)));
    const r = await drayOk([
      "copy",
      `docker://${upstream.host}/team/app:v1`,
      `docker://${mirror.host}/hub/team/app:v2`,
      "--registries-conf",
      file,
      "--format",
      "json",
    ]);
    assert.equal((JSON.parse(r.stdout) as { ServedBy: null }).ServedBy, null);
    assert.doesNotMatch(r.stderr, /read from mirror/);
  });

  it("a blocked prefix, a v1 file and bad TOML are exit 2 naming the file", async () => {
    let r = await dray([
      "digest",
      `docker://${upstream.host}/team/app:v1`,
      "--registries-conf",
      conf("blocked.conf", `[[registry]]\nprefix = "${upstream.host}/team"\nblocked = true\n`),
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /team\/app:v1 is blocked by registries\.conf .*blocked\.conf \(prefix /);
    r = await dray([
      "digest",
      `docker://${upstream.host}/team/app:v1`,
      "--registries-conf",
      conf("v1.conf", `[registries.search]\nregistries = ["docker.io"]\n`),
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /v1\.conf is in the v1 format/);
    r = await dray(["digest", `docker://${upstream.host}/team/app:v1`, "--registries-conf", conf("bad.conf", `[[registry]\nprefix = `)]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.conf is not valid TOML \(line 1/);
    r = await dray(["digest", `docker://${upstream.host}/team/app:v1`, "--registries-conf", join(dir, "none.conf")]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /none\.conf does not exist/);
  });

  it("a sync file's mirrors: block serves the sync's reads", async () => {
    const file = conf(
      "sync.yaml",
      [
        "mirrors:",
        `  - prefix: ${upstream.host}/team`,
        "    mirror:",
        `      - location: ${mirror.host}/hub/team`,
        "sync:",
        `  - source: ${upstream.host}/team/app`,
        `    destination: ${dest.host}/synced/app`,
        "",
      ].join("\n"),
    );
    const r = await drayOk(["sync", "--file", file, "--debug"]);
    const reads = manifestHosts(r.stderr).filter((h) => h !== dest.host);
    assert.ok(reads.includes(mirror.host), r.stderr);
    assert.match(r.stderr, /read from mirror/);
    const peer = assertSkopeoOk(await skopeo(["inspect", "--raw", `docker://${dest.host}/synced/app/team/app:v1`], { tlsVerify: false }));
    assert.ok(peer.stdout.includes("schemaVersion"));
  });
});
