// The sync file's validation: each mistake named with FILE:LINE:COL and the field.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SyncConfigError } from "../../src/errors.js";
import { optionsFor, parseSyncConfig } from "../../src/sync/config.js";
import { checkTagFilter, selectTags, tagVersion } from "../../src/sync/filter.js";
import { pruneCandidates } from "../../src/sync/prune.js";
import { inShard, parseShard, shardOf } from "../../src/sync/shard.js";
import { findLayouts } from "../../src/sync/expand.js";
import { parseReferrerTag } from "../../src/oci/referrer-tags.js";
import { Digest } from "../../src/oci/digest.js";
import { writeOciLayout, buildImage } from "../helpers/fixtures.js";
import { makeCertificates } from "../helpers/certs.js";
import { makeTempDir } from "../helpers/tmp.js";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";

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
    assert.deepEqual(c.rules[0]!.destination, {
      kind: "prefix",
      location: { transport: "docker", ref: { domain: "mirror.example.com:5000", path: "mirror" } },
    });
    assert.equal(c.rules[0]!.origin, "sync.yaml:10");
    assert.deepEqual(c.rules[1]!.source, { kind: "registry", domain: "registry.example.com", repositories: ["team/db", "team/cache"] });
    assert.deepEqual(c.rules[1]!.destination, { kind: "prefix", location: { transport: "oci", path: "/mnt/usb" } });
    assert.equal(c.rules[1]!.referrers, false);
    assert.equal(c.rules[0]!.referrers, true);
    assert.deepEqual(c.rules[2]!.tags, { names: ["latest", "3.19"] });
    assert.deepEqual(c.registries.get("registry.example.com"), { username: "alice", password: "s3cret", retries: 1 });
  });

  it("reads the conversion keys: manifest-format, compress, compress-level", () => {
    const c = parseSyncConfig(
      "manifest-format: oci\ncompress: zstd\ncompress-level: 9\nsync:\n  - source: a.example.com/x\n    destination: b.example.com\n",
      "sync.yaml",
    );
    assert.deepEqual([c.manifestFormat, c.compress, c.compressLevel], ["oci", "zstd", 9]);
    fails(
      "manifest-format: v2s2\nsync:\n  - source: a.example.com/x\n    destination: b.example.com\n",
      /^sync\.yaml:1:18: manifest-format: expected oci or docker/,
    );
    fails(
      "compress: lz4\nsync:\n  - source: a.example.com/x\n    destination: b.example.com\n",
      /^sync\.yaml:1:11: compress: expected gzip, zstd or none/,
    );
  });

  it("reads the exact-mirror keys: exclude, skip-existing, prune, shard, throttles, oci-archive", () => {
    const c = parseSyncConfig(
      [
        "skip-existing: true",
        "shard: 2/5",
        "destination: oci-archive:/mnt/usb/mirror.tar",
        "registries:",
        "  registry.example.com:",
        "    requests-per-second: 2.5",
        "    concurrency: 3",
        "    min-remaining: 10",
        "sync:",
        "  - source: registry.example.com/team/app",
        "    prune: true",
        "    tags: { regex: '^v', exclude: ['-rc', '^v0'] }",
        "  - source: registry.example.com/team/db",
        "    skip-existing: false",
        "    tags: { exclude: -dev }",
        "",
      ].join("\n"),
      "m.yaml",
    );
    assert.deepEqual(c.shard, { index: 2, count: 5 });
    assert.deepEqual(c.registries.get("registry.example.com"), { requestsPerSecond: 2.5, concurrency: 3, minRemaining: 10 });
    assert.deepEqual(optionsFor({}, c.registries.get("registry.example.com")).throttle, { requestsPerSecond: 2.5, concurrency: 3 });
    assert.deepEqual(
      c.rules.map((r) => [r.skipExisting, r.prune, r.tags?.exclude]),
      [
        [true, true, ["-rc", "^v0"]],
        [undefined, undefined, ["-dev"]],
      ],
    );
    assert.deepEqual(c.rules[0]!.destination, { kind: "prefix", location: { transport: "oci-archive", path: "/mnt/usb/mirror.tar" } });
    const bad = (text: string): string => {
      try {
        parseSyncConfig(`${text}\nsync:\n  - source: r.example.com/a\n    destination: r2.example.com\n`, "m.yaml");
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    assert.equal(bad("shard: 4/3"), 'm.yaml:1:8: shard: invalid shard "4/3": expected K/N with 1 ≤ K ≤ N (e.g. 2/3)');
    assert.equal(
      bad("registries:\n  r.example.com: { requests-per-second: 0 }"),
      "m.yaml:2:41: registries.r.example.com.requests-per-second: expected a number above 0",
    );
    assert.equal(bad("prune: yes please"), "m.yaml:1:8: prune: expected true or false");
  });

  it("checks the files registries: name while reading: ca-file a PEM, authfile JSON, both there (issue 19)", async () => {
    const dir = makeTempDir();
    const { caFile: ca } = makeCertificates(join(dir, "certs"));
    const garbled = join(dir, "garbled.pem");
    await writeFile(garbled, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const auth = join(dir, "auth.json");
    await writeFile(auth, '{"auths":{}}');
    const conf = (key: string, value: string): string =>
      `registries:\n  a.example.com:\n    ${key}: ${value}\nsync:\n  - source: a.example.com/x\n    destination: b.example.com\n`;
    assert.equal(parseSyncConfig(conf("ca-file", ca), "sync.yaml").registries.get("a.example.com")?.caFile, ca);
    assert.equal(parseSyncConfig(conf("authfile", auth), "sync.yaml").registries.get("a.example.com")?.authfile, auth);
    fails(conf("ca-file", join(dir, "nope.pem")), /^sync\.yaml:3:14: registries\.a\.example\.com\.ca-file: .*nope\.pem does not exist$/);
    fails(
      conf("authfile", join(dir, "nope.json")),
      /^sync\.yaml:3:15: registries\.a\.example\.com\.authfile: .*nope\.json does not exist$/,
    );
    fails(conf("ca-file", auth), /ca-file: .*auth\.json holds no PEM certificate/);
    fails(conf("ca-file", garbled), /ca-file: .*garbled\.pem holds no valid PEM certificate \(its first certificate does not parse\)/);
    fails(conf("authfile", ca), /authfile: .*ca\.crt is not valid JSON$/);
    fails(conf("authfile", dir), /authfile: .* is a directory, not a file$/);
    // Issue 30: cert-dir, client-cert and client-key per registry (mTLS); the pair goes together.
    assert.equal(parseSyncConfig(conf("cert-dir", dir), "sync.yaml").registries.get("a.example.com")?.certDir, dir);
    fails(conf("cert-dir", join(dir, "nope.d")), /registries\.a\.example\.com\.cert-dir: .*nope\.d does not exist$/);
    fails(conf("client-cert", ca), /registries\.a\.example\.com: "client-cert" and "client-key" go together/);
  });

  it("names the line, column and field of each mistake", () => {
    fails(
      "sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    tags:\n      semver: 'not a range'\n",
      /^sync\.yaml:5:15: sync\[0\]\.tags\.semver: invalid semver range "not a range"/,
    );
    fails(
      "sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    tags: { regex: '(' }\n",
      /^sync\.yaml:4:20: sync\[0\]\.tags\.regex: invalid regular expression/,
    );
    fails("sync:\n  - source: a.example.com/x\n    destinaton: b.example.com\n", /^sync\.yaml:3:5: sync\[0\]: unknown key "destinaton"/);
    fails("sync:\n  - source: a.example.com/x\n", /^sync\.yaml:2:5: sync\[0\]: missing "destination"/);
    fails(
      "sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    tags: { newest: 0 }\n",
      /^sync\.yaml:4:21: sync\[0\]\.tags\.newest: expected an integer ≥ 1/,
    );
    fails("sync:\n  - source: a.example.com/X\n    destination: b.example.com\n", /^sync\.yaml:2:13: sync\[0\]\.source: .*lowercase/);
    fails(
      "sync:\n  - source: a.example.com/x\n    destination: b.example.com/y:tag\n",
      /^sync\.yaml:3:18: sync\[0\]\.destination: .*without a tag/,
    );
    fails(
      "sync:\n  - source: a.example.com/x\n    destination: b.example.com\n    platforms: [linux]\n",
      /^sync\.yaml:4:17: sync\[0\]\.platforms\[0\]: /,
    );
    fails(
      "registries:\n  a.example.com:\n    username: u\n    password-env: NOPE\nsync: []\n",
      /^sync\.yaml:4:19: registries\.a\.example\.com\.password-env: environment variable NOPE is not set/,
    );
    fails("sync: []\n", /^sync\.yaml:1:7: sync: expected a non-empty list/);
    fails("jobs: 2\n", /missing "sync"/);
    fails("sync:\n  - source: [\n", /^sync\.yaml:\d+:\d+: invalid YAML/);
    fails(
      "sync:\n - source: a.example.com/x\n   destination: b.example.com\n   source: c.example.com/y\n",
      /^sync\.yaml:\d+:\d+: invalid YAML: Map keys must be unique/,
    );
  });
});

describe("tag selection", () => {
  const tags = [
    "1.0.0",
    "1.2.0",
    "v1.3.1",
    "1.4.0-rc.1",
    "2.0.0",
    "3.19",
    "3.18",
    "latest",
    "edge",
    `sha256-${"a".repeat(64)}`,
    `sha256-${"a".repeat(64)}.sig`,
  ];

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

  it("exclude wins over names, regex and newest; newest ranks what is left", () => {
    assert.deepEqual(
      selectTags(tags, { exclude: ["-rc", "^v"] }).tags,
      tags.slice(0, 9).filter((t) => !t.includes("-rc") && !t.startsWith("v")),
    );
    assert.deepEqual(selectTags(tags, { names: ["latest", "gone"], exclude: ["^lat", "^gone$"] }), { tags: [], missing: [] });
    assert.deepEqual(selectTags(tags, { semver: ">=1", newest: 1, exclude: ["^3\\.19$"] }).tags, ["3.18"]);
  });

  it("prune candidates: tags the source lost that the filter would take (newest aside), exclusions and other shards kept", () => {
    const dest = ["1.0.0", "1.1.0", "latest", "old", "manual-1", `sha256-${"b".repeat(64)}`];
    const src = ["1.1.0", "latest"];
    const all = (): boolean => true;
    assert.deepEqual(pruneCandidates(dest, src, undefined, all), ["1.0.0", "old", "manual-1"]);
    assert.deepEqual(pruneCandidates(dest, src, { exclude: ["^manual"] }, all), ["1.0.0", "old"]);
    assert.deepEqual(pruneCandidates(dest, src, { semver: ">=1", newest: 1 }, all), ["1.0.0"]);
    assert.deepEqual(pruneCandidates(dest, src, { newest: 1 }, all), ["1.0.0"], "newest never takes a tag that is no version");
    assert.deepEqual(pruneCandidates(dest, src, { names: ["old", "latest"] }, all), ["old"]);
    assert.deepEqual(
      pruneCandidates(dest, src, undefined, (t) => t !== "old"),
      ["1.0.0", "manual-1"],
    );
  });

  it("shards: K/N grammar, a stable split that gives every image exactly one shard", () => {
    assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
    for (const bad of ["0/3", "4/3", "1/0", "1", "a/b", "1/3/5"]) assert.throws(() => parseShard(bad), /invalid shard/);
    const images = Array.from({ length: 300 }, (_, i) => `tag-${i}`);
    const per = [1, 2, 3].map((k) => images.filter((t) => inShard({ index: k, count: 3 }, "team/app", t)));
    assert.deepEqual(per.flat().sort(), [...images].sort(), "each image in exactly one of the three");
    assert.ok(
      per.every((p) => p.length > 60),
      `balanced enough: ${per.map((p) => p.length).join("/")}`,
    );
    // Fixed values: a change to the hash would split a running mirror differently between old and new runners.
    assert.deepEqual([shardOf("team/app", "1.0.0", 3), shardOf("team/app", "latest", 3), shardOf("library/alpine", "3.19", 7)], [2, 3, 7]);
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
