// What a newcomer reads (issue 28, items 11, 12 and 14): locations that name a
// local image without a prefix, a docker-archive NAME without a tag, the
// reference form delete suggests, and an archive destination that is some
// other file. Every row is one real `dray` run.
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { isolatedEnv } from "../auth/login-env.js";
import { buildImage, pushImage, writeOciLayout } from "../helpers/fixtures.js";
import { startRegistry } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "./run.js";

describe("local names and archive destinations, in words (issue 28 items 11, 14)", () => {
  let dir: string;

  before(async () => {
    dir = makeTempDir();
    await writeOciLayout(join(dir, "lay"), await buildImage({ seed: "words-11" }), "v1");
    await drayOk(["copy", `oci:${dir}/lay:v1`, `docker-archive:${dir}/legacy.tar:dray/hello:v1`], { cwd: dir });
    await drayOk(["copy", `oci:${dir}/lay:v1`, `oci-archive:${dir}/o.tar:v1`], { cwd: dir });
    await writeFile(join(dir, "notes.txt"), "my notes\n");
  });

  // HTTPS_PROXY at a closed port: a request that slipped through would fail differently (and not with exit 2).
  const offline = { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" };
  const rows = [
    {
      args: ["copy", "legacy.tar", "oci:x"],
      line: "legacy.tar has no transport prefix, so it names a registry image; a local path legacy.tar exists, a docker save archive: did you mean docker-archive:legacy.tar? (docker://legacy.tar for the registry)",
    },
    {
      args: ["inspect", "o.tar"],
      line: "o.tar has no transport prefix, so it names a registry image; a local path o.tar exists, an OCI archive: did you mean oci-archive:o.tar? (docker://o.tar for the registry)",
    },
    {
      args: ["ls", "lay"],
      line: "lay has no transport prefix, so it names a registry image; a local path lay exists, an OCI layout folder: did you mean oci:lay? (docker://lay for the registry)",
    },
    {
      args: ["copy", "legacy.tar:dray/hello:v1", "oci:x"],
      line: 'invalid location "legacy.tar:dray/hello:v1": invalid registry host "legacy.tar:dray"; a local path legacy.tar exists, a docker save archive: did you mean docker-archive:legacy.tar:dray/hello:v1?',
    },
    {
      args: ["copy", "oci:lay:v1", "notes.txt"],
      line: "notes.txt has no transport prefix, so it names a registry image; a local path notes.txt exists, a file that is no image archive (docker://notes.txt for the registry)",
    },
  ];
  for (const row of rows) {
    it(`dray ${row.args.join(" ")}: the local file is named, exit 2, before any request`, async () => {
      const r = await dray(row.args, { cwd: dir, env: offline });
      assert.equal(r.stderr, `dray: ${row.line}\n`);
      assert.equal(r.code, 2);
    });
  }

  it("a stray file that is no image and has no extension (ubuntu, alpine) does not stop the registry name", async () => {
    await writeFile(join(dir, "ubuntu"), "#!/bin/sh\n");
    await writeFile(join(dir, "alpine"), "notes\n");
    for (const name of ["ubuntu", "alpine:3.19"]) {
      const r = await dray(["inspect", "--retries", "0", name], { cwd: dir, env: offline });
      assert.ok(!r.stderr.includes("no transport prefix"), r.stderr);
      assert.match(r.stderr, /GET https:\/\/registry-1\.docker\.io\/v2\/library\//, "the request went out (to the closed proxy)");
      assert.notEqual(r.code, 2);
    }
  });

  it("ls oci:DIR lists a layout written inside another (dray copy, skopeo do it); sync copies both or refuses up front", async () => {
    for (const repo of ["team", "team/app", "a/b/c"]) await drayOk(["copy", "-q", "oci:lay:v1", `oci:nest/${repo}:v1`], { cwd: dir });
    assert.equal((await drayOk(["ls", "oci:nest"], { cwd: dir })).stdout, "a/b/c\nteam\nteam/app\n");
    const layouts = await dray(["sync", "-q", "oci:nest", "oci:nest2"], { cwd: dir });
    assert.equal(layouts.code, 2, "was 0 with team/app dropped without a word");
    assert.match(layouts.stderr, /^dray: cannot sync team and team\/app into OCI layouts: /);
    assert.ok(!existsSync(join(dir, "nest2")));
    await drayOk(["sync", "-q", "oci:nest", "oci-archive:nest.tar"], { cwd: dir });
    const listed = (await drayOk(["ls", "oci-archive:nest.tar"], { cwd: dir })).stdout.trim().split("\n");
    assert.deepEqual(listed.sort(), ["a/b/c:v1", "team/app:v1", "team:v1"]);
  });

  it("sync's image line counts '1 blob copied'", async () => {
    await drayOk(["copy", "-q", "oci:lay:v1", "oci:one/app:v1"], { cwd: dir });
    await drayOk(["sync", "-q", "oci:one", "oci:one-out"], { cwd: dir });
    await drayOk(["mutate", "-q", "--label", "x=y", "oci:one/app:v1", "oci:one/app:v2"], { cwd: dir });
    const r = await drayOk(["sync", "--progress", "plain", "oci:one", "oci:one-out"], { cwd: dir });
    assert.match(r.stderr, /^copied {6}oci:one\/app:v2 -> oci:one-out\/app:v2 sha256:[0-9a-f]{12} \(1 blob copied, 0 mounted, /m);
  });

  it("a layout folder that cannot be made although its parent exists (oci:/proc/x) fails at once, not in a busy loop", async () => {
    // Node's mkdir({ recursive: true }) spins forever there (ENOENT, then EEXIST for /proc), deaf to SIGTERM.
    const r = await dray(["copy", "-q", "oci:lay:v1", "oci:/proc/dray-words/x:v1"], { cwd: dir, timeoutMs: 20_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, "dray: cannot create OCI layout directory: /proc/dray-words/x does not exist\n");
  });

  it("delete without a reference suggests a form it accepts", async () => {
    const r = await dray(["delete", "oci:lay"], { cwd: dir });
    assert.equal(r.stderr, "dray: delete needs a reference: oci:lay:TAG (or oci:lay:sha256:…); oci:lay names none\n");
    assert.equal(r.code, 2);
  });

  it("docker-archive:FILE:NAME without a tag says NAME means NAME:latest and names the tag it has", async () => {
    const r = await dray(["inspect", "docker-archive:legacy.tar:dray/hello"], { cwd: dir });
    assert.equal(
      r.stderr,
      "dray: dray/hello:latest not found in legacy.tar: a NAME without :TAG means NAME:latest (it has: dray/hello:v1); that one is docker-archive:legacy.tar:dray/hello:v1\n",
    );
    assert.equal(r.code, 3);
    const tagged = await dray(["inspect", "docker-archive:legacy.tar:dray/hello:v2"], { cwd: dir });
    assert.equal(tagged.stderr, "dray: dray/hello:v2 not found in legacy.tar (it has: dray/hello:v1)\n");
  });

  for (const kind of ["oci-archive", "docker-archive"] as const) {
    const name = kind === "oci-archive" ? "an OCI archive" : "a docker archive";
    const ref = kind === "oci-archive" ? "v1" : "dray/hello:v1";
    it(`${kind}: an existing file that is not an archive is refused (exit 2, kept, even with -q), replaced with --force`, async () => {
      await writeFile(join(dir, "notes.txt"), "my notes\n");
      const r = await dray(["copy", "-q", "oci:lay:v1", `${kind}:notes.txt:${ref}`], { cwd: dir });
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        new RegExp(
          `^dray: notes\\.txt exists and is not ${name} \\(.*\\); dray adds images to an archive and does not replace another file: remove it, choose another name, or pass --force to replace it\\n$`,
        ),
      );
      assert.equal(await readFile(join(dir, "notes.txt"), "utf8"), "my notes\n");
      const forced = await dray(["copy", "-q", "--force", "oci:lay:v1", `${kind}:notes.txt:${ref}`], { cwd: dir });
      assert.equal(forced.stderr, "");
      assert.equal(forced.code, 0);
      assert.equal(
        (await drayOk(["ls", `${kind}:notes.txt`], { cwd: dir })).stdout.trim(),
        kind === "oci-archive" ? "v1" : "dray/hello:v1",
      );
    });
  }

  it("sync into oci-archive:FILE refuses another file too; an empty file is written", async () => {
    await writeFile(join(dir, "notes.txt"), "my notes\n");
    const r = await dray(["sync", "-q", "oci:lay", "oci-archive:notes.txt"], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dray: notes\.txt exists and is not an OCI archive .*pass --force to replace it\n$/);
    assert.equal(await readFile(join(dir, "notes.txt"), "utf8"), "my notes\n");
    await writeFile(join(dir, "empty.tar"), "");
    await drayOk(["copy", "-q", "oci:lay:v1", "oci-archive:empty.tar:v1"], { cwd: dir });
  });
});

describe("hidden repositories and registries that ask no credentials (issue 28 item 12)", () => {
  it("an anonymous NAME_UNKNOWN says how to log in; --no-creds does not", async () => {
    const reg = await startRegistry();
    await pushImage({ url: reg.url }, "team/app", "1", await buildImage({ seed: "words-12" }));
    const { env } = isolatedEnv();
    // distribution answers a tag list of an unknown repository with NAME_UNKNOWN, as registries hiding a private one do.
    const r = await dray(["ls", `${reg.host}/team/secret`], { env });
    assert.equal(r.code, 3);
    assert.match(
      r.stderr,
      new RegExp(`^dray: not found: .*\\(NAME_UNKNOWN\\).*; if it is private, dray login ${reg.host.replace(/\./g, "\\.")}\\n$`),
    );
    const tagMissing = await dray(["inspect", `${reg.host}/team/app:2`], { env });
    assert.equal(tagMissing.code, 3);
    assert.ok(!tagMissing.stderr.includes("dray login"), tagMissing.stderr);
    const noCreds = await dray(["ls", "--no-creds", `${reg.host}/team/secret`], { env });
    assert.equal(noCreds.code, 3);
    assert.ok(!noCreds.stderr.includes("dray login"), noCreds.stderr);
  });

  it("login to a registry without auth stores nothing and says so (exit 0, no 'Login Succeeded')", async () => {
    const reg = await startRegistry();
    const { env, configPath } = isolatedEnv();
    const r = await dray(["login", reg.host, "-u", "alice", "--password-stdin"], { env, input: "secret\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `${reg.host} asks no credentials (GET /v2/ answered 200 without them): nothing stored\n`);
    assert.ok(!existsSync(configPath), "no credential stored");
    const json = await drayOk(["login", "-f", "json", reg.host, "-u", "alice", "--password-stdin"], { env, input: "secret\n" });
    assert.deepEqual(JSON.parse(json.stdout), { Registry: reg.host, Stored: null, Keychain: false });
  });
});

describe("conversions say what happened to which digest (issue 28 item 13)", () => {
  let dir: string;
  before(async () => {
    dir = makeTempDir();
    await writeOciLayout(join(dir, "lay"), await buildImage({ seed: "words-13" }), "v1");
  });

  it("zstd to plain tar: 'decompressed', each stored layer named by its new digest and its source", async () => {
    await drayOk(["copy", "-q", "oci:lay:v1", "oci:z:v1", "--compress", "zstd"], { cwd: dir });
    const r = await drayOk(["copy", "--progress", "plain", "oci:z:v1", "oci:p:v1", "--compress", "none"], { cwd: dir });
    assert.match(r.stderr, /^note: 1 layer decompressed \(zstd to plain tar\): the image is now sha256:[0-9a-f]{64} \(was sha256:/m);
    assert.ok(!r.stderr.includes("recompressed"), r.stderr);
    const index = JSON.parse(await readFile(join(dir, "p", "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(await readFile(join(dir, "p", "blobs", "sha256", index.manifests[0]!.digest.slice(7)), "utf8")) as {
      layers: Array<{ digest: string }>;
    };
    const stored = manifest.layers[0]!.digest.slice(7, 19);
    assert.match(
      r.stderr,
      new RegExp(`^copied blob sha256:${stored} \\(.*\\), decompressed \\(zstd to plain tar\\) from sha256:[0-9a-f]{12}$`, "m"),
    );
  });

  it("a docker save archive without index.json into oci: notes why the stored digest differs from the resolved one", async () => {
    await drayOk(["copy", "-q", "oci:lay:v1", "docker-archive:d.tar:dray/x:v1"], { cwd: dir });
    execFileSync("tar", ["--delete", "-f", join(dir, "d.tar"), "index.json", "oci-layout"]); // the pre-25 form: manifest.json only
    const r = await drayOk(["copy", "--progress", "plain", "docker-archive:d.tar", "oci:legacy:v1"], { cwd: dir });
    const resolved = /^resolved docker-archive:d\.tar to (sha256:[0-9a-f]{64})$/m.exec(r.stderr)?.[1];
    assert.ok(resolved, r.stderr);
    assert.ok(
      r.stderr.includes(
        `note: docker-archive:d.tar holds no manifest (docker save before Docker 25): the one dray made for it, ${resolved}, is stored as ${r.stdout.trim()} (manifests converted to OCI format)\n`,
      ),
      r.stderr,
    );
  });
});

describe("cat and cat --list agree (issue 28 item 16)", () => {
  let dir: string;
  before(async () => {
    dir = makeTempDir();
    await mkdir(join(dir, "l1", "etc"), { recursive: true });
    await mkdir(join(dir, "l2", "etc"), { recursive: true });
    await writeFile(join(dir, "l1", "etc", "gone"), "hi\n");
    await writeFile(join(dir, "l1", "etc", "keep"), "keep\n");
    await writeFile(join(dir, "l2", "etc", ".wh.gone"), "");
    await drayOk(["append", "scratch", "--platform", "linux/amd64", "--layer", "l1", "--layer", "l2", "-t", "oci:wh:v1", "-q"], {
      cwd: dir,
    });
  });

  it("a deleted path: 'deleted by … layer 2' from both, exit 3", async () => {
    const cat = await dray(["cat", "oci:wh:v1", "etc/gone"], { cwd: dir });
    const list = await dray(["cat", "--list", "oci:wh:v1", "etc/gone"], { cwd: dir });
    assert.match(cat.stderr, /^dray: \/etc\/gone was deleted by oci:wh:v1 layer 2 \(sha256:[0-9a-f]{64}\)\n$/);
    assert.equal(list.stderr, cat.stderr);
    assert.deepEqual([cat.code, list.code], [3, 3]);
    const nowhere = await dray(["cat", "--list", "oci:wh:v1", "etc/nothere"], { cwd: dir });
    assert.equal(nowhere.stderr, "dray: /etc/nothere is not in the image\n");
  });

  it("a trailing slash after a file is 'not a directory' (exit 2), for cat and --list; after a folder it lists", async () => {
    for (const args of [
      ["cat", "oci:wh:v1", "etc/keep/"],
      ["cat", "--list", "oci:wh:v1", "etc/keep/"],
    ]) {
      const r = await dray(args, { cwd: dir });
      assert.equal(r.stderr, "dray: /etc/keep/: not a directory (/etc/keep is a file; drop the trailing /)\n");
      assert.equal(r.code, 2);
    }
    assert.equal((await drayOk(["cat", "--list", "oci:wh:v1", "etc/"], { cwd: dir })).stdout, "/etc\n/etc/keep\n");
    assert.equal((await drayOk(["cat", "oci:wh:v1", "etc/keep"], { cwd: dir })).stdout, "keep\n");
  });
});

describe("sync's folders of layouts (issue 28 item 17)", () => {
  it("ls oci:DIR on a folder sync filled lists its repositories; team and team/app into oci:DIR are refused up front", async () => {
    const reg = await startRegistry();
    const img = await buildImage({ seed: "words-17" });
    for (const repo of ["lib", "team/app"]) await pushImage({ url: reg.url }, repo, "1", img);
    const dir = makeTempDir();
    await drayOk(["sync", "-q", reg.host, `oci:${dir}/mirror`]);
    const r = await drayOk(["ls", `oci:${dir}/mirror`]);
    assert.equal(r.stdout, "lib\nteam/app\n");
    assert.equal((await drayOk(["ls", `oci:${dir}/mirror/team/app`])).stdout, "1\n");

    await pushImage({ url: reg.url }, "team", "1", img);
    for (let i = 0; i < 2; i++) {
      // The same refusal every time, before anything is written.
      const out = join(dir, `nested${i}`);
      const nested = await dray(["sync", "-q", reg.host, `oci:${out}`]);
      assert.equal(nested.code, 2, nested.stderr);
      assert.equal(
        nested.stderr,
        `dray: cannot sync team and team/app into OCI layouts: oci:${out}/team would be a layout holding the layout oci:${out}/team/app in its folder; sync one of them to another folder (a rule of its own), or into a registry or one oci-archive:FILE, which hold both\n`,
      );
      assert.ok(!existsSync(out), "nothing written");
    }
  });
});

describe("export keeps folder times (issue 28 item 23)", () => {
  it("a lower layer's file in a folder an upper layer wrote: GNU tar extracts the image's folder times, as umoci unpack does", async () => {
    const dir = makeTempDir();
    const at = (d: string): string[] => ["--mtime", d, "--owner=0", "--group=0", "--numeric-owner"];
    await mkdir(join(dir, "l1", "a", "b"), { recursive: true });
    await writeFile(join(dir, "l1", "a", "b", "f1"), "1\n");
    await writeFile(join(dir, "l1", "a", "top"), "2\n");
    await mkdir(join(dir, "l2", "a"), { recursive: true });
    await mkdir(join(dir, "l2", "c"), { recursive: true });
    await writeFile(join(dir, "l2", "a", "new"), "3\n");
    await writeFile(join(dir, "l2", "c", "x"), "4\n");
    // Layer 2 holds a/ (2003) and c/ (2004); layer 1 puts a/top and a/b/ into a/ below it.
    execFileSync("tar", ["cf", "l1.tar", ...at("2002-02-02 00:00Z"), "-C", "l1", "a"], { cwd: dir });
    execFileSync("tar", ["cf", "l2a.tar", ...at("2003-03-03 00:00Z"), "-C", "l2", "a"], { cwd: dir });
    execFileSync("tar", ["rf", "l2a.tar", ...at("2004-04-04 00:00Z"), "-C", "l2", "c"], { cwd: dir });
    await drayOk(["append", "scratch", "--platform", "linux/amd64", "--layer", "l1.tar", "--layer", "l2a.tar", "-t", "oci:img:v1", "-q"], {
      cwd: dir,
    });
    await drayOk(["export", "oci:img:v1", "-o", "out.tar", "-q"], { cwd: dir });
    await mkdir(join(dir, "x"));
    execFileSync("tar", ["-xpf", "out.tar", "-C", "x", "--numeric-owner"], { cwd: dir });
    execFileSync("umoci", ["unpack", "--rootless", "--image", "img:v1", "bundle"], { cwd: dir, stdio: "ignore" });
    const times = (root: string): Record<string, string> =>
      Object.fromEntries(["a", "a/b", "c", "a/top"].map((p) => [p, statSync(join(dir, root, p)).mtime.toISOString()]));
    const want = {
      a: "2003-03-03T00:00:00.000Z",
      "a/b": "2002-02-02T00:00:00.000Z",
      c: "2004-04-04T00:00:00.000Z",
      "a/top": "2002-02-02T00:00:00.000Z",
    };
    assert.deepEqual(times("bundle/rootfs"), want, "umoci, the peer, says what the image holds");
    assert.deepEqual(times("x"), want);
  });
});
