// The sync file's validation: each mistake named with FILE:LINE:COL and the field.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SyncConfigError } from "../../src/errors.js";
import { parseSyncConfig } from "../../src/sync/config.js";
import { checkTagFilter, selectTags, tagVersion } from "../../src/sync/filter.js";
import { findLayouts } from "../../src/sync/expand.js";
import { parseReferrerTag } from "../../src/oci/referrer-tags.js";
import { Digest } from "../../src/oci/digest.js";
import { writeOciLayout, buildImage } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";
import { join } from "node:path";

function fails(text: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(
    () => parseSyncConfig(text, "sync.yaml", { env }),
    (err: unknown) => {
      assert.ok(err instanceof SyncConfigError, String(err));
      assert.match(err.message, pattern);
      assert.equal(err.code, "E_USAGE");
      return true;
    },
  );
}

describe("sync file", () => {
  const good = `# mirror
jobs: 3
destination: mirror.example.com:5000/mirror
registries:
  registry.example.com:
    username: alice
    password-env: TOKEN
    retries: 1
sync:
  - source: registry.example.com/team/app
    tags:
      regex: '^v1\\.'
      semver: '>=1.2 <2'
      newest: 2
    platforms: [linux/amd64]
  - source: registry.example.com
    repositories: [team/db, team/cache]
    destination: oci:/mnt/usb
    referrers: false
  - source: registry.example.com/team/web
    tags: [latest, 3.19]
`;

  it("reads rules, defaults, registries and credentials from the environment", () => {
    const c = parseSyncConfig(good, "sync.yaml", { env: { TOKEN: "s3cret" } });
    assert.equal(c.jobs, 3);
    assert.equal(c.rules.length, 3);
    assert.deepEqual(c.rules[0]!.tags, { regex: "^v1\\.", semver: ">=1.2 <2", newest: 2 });
    assert.deepEqual(c.rules[0]!.platforms, [{ os: "linux", architecture: "amd64" }]);
    assert.deepEqual(c.rules[0]!.destination, { kind: "prefix", location: { transport: "docker", ref: { domain: "mirror.example.com:5000", path: "mirror" } } });
    assert.equal(c.rules[0]!.origin, "sync.yaml:10");
    assert.deepEqual(c.rules[1]!.source, { kind: "registry", domain: "registry.example.com", repositories: ["team/db", "team/cache"] });
    assert.deepEqual(c.rules[1]!.destination, { kind: "prefix", location: { transport: "oci", path: "/mnt/usb" } });
    assert.equal(c.rules[1]!.referrers, false);
    assert.equal(c.rules[0]!.referrers, true);
    assert.deepEqual(c.rules[2]!.tags, { names: ["latest", "3.19"] });
    assert.deepEqual(c.registries.get("registry.example.com"), { username: "alice", password: "s3cret", retries: 1 });
  });

  it("names the line, column and field of each mistake", () => {
    fails("sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    tags:\n      semver: 'not a range'\n", /^sync\.yaml:5:15: sync\[0\]\.tags\.semver: invalid semver range "not a range"/);
    fails("sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    tags: { regex: '(' }\n", /^sync\.yaml:4:20: sync\[0\]\.tags\.regex: invalid regular expression/);
    fails("sync:\n  - source: a.example.com/x\n    destinaton: b.example.com\n", /^sync\.yaml:3:5: sync\[0\]: unknown key "destinaton"/);
    fails("sync:\n  - source: a.example.com/x\n", /^sync\.yaml:2:5: sync\[0\]: missing "destination"/);
    fails("sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    tags: { newest: 0 }\n", /^sync\.yaml:4:21: sync\[0\]\.tags\.newest: expected an integer ≥ 1/);
    fails("sync:\n  - source: a.example.com/X\n    destination: b.example.com\n", /^sync\.yaml:2:13: sync\[0\]\.source: .*lowercase/);
    fails("sync:\n  - source: a.example.com/x\n    destination: b.example.com/y:tag\n", /^sync\.yaml:3:18: sync\[0\]\.destination: .*without a tag/);
    fails("sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    platforms: [linux]\n", /^sync\.yaml:4:17: sync\[0\]\.platforms\[0\]: /);
    fails("registries:\n  a.example.com:\n    username: u\n    password-env: NOPE\nsync: []\n", /^sync\.yaml:4:19: registries\.a\.example\.com\.password-env: environment variable NOPE is not set/);
    fails("sync: []\n", /^sync\.yaml:1:7: sync: expected a non-empty list/);
    fails("jobs: 2\n", /missing "sync"/);
    fails("sync:\n  - source: [\n", /^sync\.yaml:\d+:\d+: invalid YAML/);
    fails("sync:\n - source: a.example.com/x\n   destination: b.example.com\n   source: c.example.com/y\n", /^sync\.yaml:\d+:\d+: invalid YAML: Map keys must be unique/);
  });
});

describe("tag selection", () => {
  const tags = ["1.0.0", "1.2.0", "v1.3.1", "1.4.0-rc.1", "2.0.0", "3.19", "3.18", "latest", "edge", `sha256-${"a".repeat(64)}`, `sha256-${"a".repeat(64)}.sig`];

  it("regex, semver, newest and names combine; referrer tags are never images", () => {
    assert.deepEqual(selectTags(tags).tags, tags.slice(0, 9));
    assert.deepEqual(selectTags(tags, { semver: ">=1.2.0 <2" }).tags, ["1.2.0", "v1.3.1"]);
    assert.deepEqual(selectTags(tags, { semver: ">=3" }).tags, ["3.19", "3.18"]);
    assert.deepEqual(selectTags(tags, { semver: ">=1", newest: 2 }).tags, ["3.19", "3.18"]);
    assert.deepEqual(selectTags(tags, { semver: "<3", newest: 2 }).tags, ["v1.3.1", "2.0.0"]);
    assert.deepEqual(selectTags(tags, { regex: "^v?1\\." }).tags, ["1.0.0", "1.2.0", "v1.3.1", "1.4.0-rc.1"]);
    assert.deepEqual(selectTags(tags, { regex: "^v?1\\.", semver: "^1" }).tags, ["1.0.0", "1.2.0", "v1.3.1"]);
    assert.deepEqual(selectTags(tags, { names: ["latest", "gone"], newest: 1 }), { tags: ["3.19", "latest"], missing: ["gone"] });
    assert.equal(tagVersion("3.19")?.version, "3.19.0");
    assert.equal(tagVersion("latest"), null);
  });

  it("pre-releases: `2.1-rc` is 2.1.0-rc in tags and in ranges; a range naming one takes pre-releases (issue 19, bug 5)", () => {
    const pre = ["2.0.0", "2.1-rc", "2.1.0-rc.2", "v2.1", "2.2.0-beta.1", "3-alpha", "1.9.9-rc.1", "latest"];
    assert.equal(tagVersion("2.1-rc")?.version, "2.1.0-rc");
    assert.equal(tagVersion("3-alpha")?.version, "3.0.0-alpha");
    assert.deepEqual(selectTags(pre, { semver: ">=2.1-rc" }).tags, ["2.1-rc", "2.1.0-rc.2", "v2.1", "2.2.0-beta.1", "3-alpha"]);
    assert.deepEqual(selectTags(pre, { semver: ">=2.1.0-rc" }).tags, ["2.1-rc", "2.1.0-rc.2", "v2.1", "2.2.0-beta.1", "3-alpha"]);
    assert.deepEqual(selectTags(pre, { semver: ">=2.1-rc <2.2" }).tags, ["2.1-rc", "2.1.0-rc.2", "v2.1"]);
    assert.deepEqual(selectTags(pre, { semver: ">=2" }).tags, ["2.0.0", "v2.1"], "no pre-release unless the range names one");
    assert.deepEqual(selectTags(pre, { semver: "^2.1-rc.2", newest: 1 }).tags, ["2.2.0-beta.1"]);
    checkTagFilter({ semver: ">=2.1-rc" });
    assert.throws(() => checkTagFilter({ semver: ">=2.1-rc-" + "." }), /invalid semver range/);
  });

  it("reads the referrer tag grammar", () => {
    const d = Digest.of("x");
    assert.deepEqual(parseReferrerTag(`sha256-${d.hex}.att`), { tag: `sha256-${d.hex}.att`, subject: d, kind: "att" });
    assert.equal(parseReferrerTag(`sha256-${d.hex}`)?.kind, "index");
    assert.equal(parseReferrerTag(`sha256-${d.hex.slice(1)}`), undefined);
    assert.equal(parseReferrerTag(`sha256-${d.hex}.foo`), undefined);
  });

  it("finds the layouts of a folder, one per repository", async () => {
    const root = makeTempDir("dray-layouts-");
    const img = await buildImage({ seed: "walk" });
    await writeOciLayout(join(root, "team", "app"), img, "1");
    await writeOciLayout(join(root, "tool"), img, "1");
    assert.deepEqual(await findLayouts(root), ["team/app", "tool"]);
  });
});
