// tag, delete, ls and digest as a user runs them: the real CLI against the real
// registry, and against layouts and archives that skopeo wrote.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildImage, buildIndex, pushImage, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeo, skopeoCopy, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "./run.js";

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

async function skopeoTags(loc: string): Promise<string[]> {
  const r = assertSkopeoOk(await skopeo(["list-tags", "--tls-verify=false", loc]));
  return (JSON.parse(r.stdout) as { Tags: string[] }).Tags;
}

describe("dray tag / ls / digest / delete against the registry", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let image: BuiltImage;
  let index: BuiltIndex;
  const at = (repoTag: string): string => `docker://${reg.host}/${repoTag}`;

  before(async () => {
    reg = await startRegistry({ deleteEnabled: true });
    proxy = await startProxy(reg);
    image = await buildImage({ format: "docker", seed: "cmd", layerCount: 2, layerSize: 256 * 1024 });
    index = await buildIndex({ format: "oci", seed: "cmd-idx" });
    await pushImage({ url: reg.url }, "app", "v1", image);
    await pushImage({ url: reg.url }, "multi", "latest", index);
  });

  it("tag: PUTs the same manifest bytes under each new tag and moves no blob (requests counted at a proxy)", async () => {
    proxy.log.length = 0;
    const r = await drayOk(["tag", `docker://${proxy.host}/app:v1`, "v2", "stable"]);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /Tagged docker:\/\/.*\/app:v2/);
    assert.equal(proxy.count(undefined, "/blobs/"), 0, "no blob request at all");
    assert.equal(proxy.count("PUT", /\/manifests\//), 2);
    for (const t of ["v2", "stable"]) {
      const raw = await skopeoInspectRaw(at(`app:${t}`));
      assert.ok(raw.equals(image.manifest.bytes), `app:${t} has the same manifest bytes`);
    }
  });

  it("tag: an invalid tag is a usage error (exit 2) and nothing is tagged", async () => {
    const r = await dray(["tag", at("app:v1"), "good-one", "bad/tag"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dray: invalid tag "bad\/tag"/);
    assert.ok(!(await skopeoTags(at("app"))).includes("good-one"));
  });

  it("ls: tags one per line, the same set skopeo lists; --format json and templates", async () => {
    const text = await drayOk(["ls", at("app")]);
    assert.deepEqual(text.stdout.trim().split("\n").sort(), (await skopeoTags(at("app"))).sort());
    assert.deepEqual(text.stdout.trim().split("\n").sort(), ["stable", "v1", "v2"]);
    const json = JSON.parse((await drayOk(["ls", "--format", "json", at("app")])).stdout) as { Repository: string; Tags: string[] };
    assert.equal(json.Repository, `${reg.host}/app`);
    assert.deepEqual(json.Tags.sort(), ["stable", "v1", "v2"]);
    const tpl = await drayOk(["ls", "--format", "{{len .Tags}} tags", at("app")]);
    assert.equal(tpl.stdout, "3 tags\n");
  });

  it("ls: many tags all come back; a missing repository is exit 3", async () => {
    const tags = Array.from({ length: 120 }, (_, i) => `t${String(i).padStart(3, "0")}`);
    await drayOk(["tag", at("multi:latest"), ...tags]);
    const r = await drayOk(["ls", at("multi")]);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), [...tags, "latest"].sort());
    const missing = await dray(["ls", at("no/such/repo")]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /^dray: /);
  });

  it("ls of a registry, a layout, an oci-archive and a docker-archive: tags sorted by bytes, not as written or sent", async (t) => {
    const order = ["zeta", "Mid", "10", "9", "alpha", "beta-2", "beta_1"];
    const own = await startRegistry(); // a repository of its own would join the catalog test's list
    const at = (repoTag: string): string => `docker://${own.host}/${repoTag}`;
    t.after(() => own.stop());
    await pushImage({ url: own.url }, "ordered", "zeta", image);
    await drayOk(["tag", at("ordered:zeta"), ...order.slice(1)]);
    // distribution 2.8 sends its folder's order; the spec asks for lexical order, which dray ls prints for all.
    const fromRegistry = (await drayOk(["ls", at("ordered")])).stdout;
    assert.equal(fromRegistry, ["10", "9", "Mid", "alpha", "beta-2", "beta_1", "zeta"].join("\n") + "\n");
    const dir = makeTempDir();
    const layout = `oci:${join(dir, "layout")}`;
    const ociArchive = `oci-archive:${join(dir, "o.tar")}`;
    await drayOk(["copy", "-q", at("ordered:zeta"), `${layout}:zeta`]);
    await drayOk(["copy", "-q", at("ordered:zeta"), `${ociArchive}:zeta`]);
    for (const t of order.slice(1)) {
      // One tag per run: index.json keeps them in the order they came.
      await drayOk(["tag", `${layout}:zeta`, t]);
      await drayOk(["tag", `${ociArchive}:zeta`, t]);
    }
    const dockerArchive = `docker-archive:${join(dir, "d.tar")}`;
    for (const t of order) await drayOk(["copy", "-q", at("ordered:zeta"), `${dockerArchive}:ordered:${t}`]);
    assert.equal((await drayOk(["ls", layout])).stdout, fromRegistry);
    assert.equal((await drayOk(["ls", ociArchive])).stdout, fromRegistry);
    // A docker-archive's tags are its RepoTags, NAME:TAG.
    const dockerTags = (await drayOk(["ls", dockerArchive])).stdout.trim().split("\n");
    assert.deepEqual(
      dockerTags,
      fromRegistry
        .trim()
        .split("\n")
        .map((t) => `ordered:${t}`),
    );
  });

  it("ls --catalog: repositories sorted by bytes, as tags are, not in the order the registry walked them", async (t) => {
    const own = await startRegistry();
    t.after(() => own.stop());
    // distribution walks its folders: `a/b` (inside folder a) comes before `a-c`, while by bytes '-' (0x2d) < '/' (0x2f).
    const repos = ["a/b", "a-c", "a_d", "a", "z9", "10/x", "1-0"];
    for (const repo of repos) await pushImage({ url: own.url }, repo, "v1", image);
    const sorted = ["1-0", "10/x", "a", "a-c", "a/b", "a_d", "z9"];
    assert.deepEqual([...repos].sort(), sorted, "the expected order is JavaScript's default (code-unit) order, bytes for ASCII");
    assert.equal((await drayOk(["ls", "--catalog", own.host])).stdout, sorted.join("\n") + "\n");
    const json = JSON.parse((await drayOk(["ls", "--catalog", own.host, "--format", "json"])).stdout) as { Repositories: string[] };
    assert.deepEqual(json.Repositories, sorted);
  });

  it("ls refuses parts of a location it would ignore, as skopeo does: --catalog HOST/REPO, REPO:TAG (issue 19)", async () => {
    const cat = await dray(["ls", "--catalog", `${reg.host}/app`]);
    assert.equal(cat.code, 2);
    assert.match(cat.stderr, /^dray: --catalog takes a registry HOST\[:PORT\], not a repository/);
    for (const loc of [at("app:v1"), `docker://${reg.host}/app@${image.manifest.digest}`]) {
      const r = await dray(["ls", loc]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^dray: ls lists every tag .* without a tag or digest\n$/);
    }
  });

  it("ratelimit of a missing repository or tag: the answer shown, then exit 3 (issue 27, item 13)", async () => {
    for (const where of [at("nothere:v1"), at("app:nothere")]) {
      const r = await dray(["ratelimit", where]);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, `${reg.host}: no rate limit announced (HEAD answered 404)\n`);
      assert.match(r.stderr, /^dray: \S+ not found in \S+ \(HEAD answered 404\)\n$/);
    }
    const json = await dray(["ratelimit", at("app:nothere"), "--format", "json"]);
    assert.equal(json.code, 3, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { Status: number }).Status, 404);
    assert.equal((await dray(["ratelimit", at("app:v1")])).code, 0);
  });

  it("ls --catalog HOST lists the repositories", async () => {
    const r = await drayOk(["ls", "--catalog", reg.host]);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), ["app", "multi"]);
    const json = JSON.parse((await drayOk(["ls", "--catalog", reg.host, "--format", "json"])).stdout) as {
      Registry: string;
      Repositories: string[];
    };
    assert.equal(json.Registry, reg.host);
    assert.deepEqual(json.Repositories.sort(), ["app", "multi"]);
    const both = await dray(["ls", "--catalog", reg.host, at("app")]);
    assert.equal(both.code, 2);
  });

  it("-f json on digest, tag, ls and delete (issue 19: --format json wherever there is output)", async () => {
    await pushImage({ url: reg.url }, "fmt", "v1", image);
    const d = JSON.parse((await drayOk(["digest", "-f", "json", at("fmt:v1")])).stdout) as { Digest: string; Location: string };
    assert.equal(d.Digest, image.manifest.digest.toString());
    assert.equal((await drayOk(["digest", "-f", "{{.Digest}}", at("fmt:v1")])).stdout, `${image.manifest.digest}\n`);
    const t = JSON.parse((await drayOk(["tag", "-f", "json", at("fmt:v1"), "fmt-a", "fmt-b"])).stdout) as { Tagged: string[] };
    assert.deepEqual(t.Tagged, [at("fmt:fmt-a"), at("fmt:fmt-b")]);
    assert.equal((await drayOk(["tag", at("fmt:v1"), "fmt-c"])).stdout, "", "no data on stdout by default");
    const l = JSON.parse((await drayOk(["ls", "-f", "json", at("fmt")])).stdout) as { Tags: string[] };
    assert.deepEqual(l.Tags.sort(), ["fmt-a", "fmt-b", "fmt-c", "v1"]);
    const del = JSON.parse((await drayOk(["delete", "-f", "json", at("fmt:fmt-c")])).stdout) as { Digest: string };
    assert.equal(del.Digest, image.manifest.digest.toString());
  });

  it("digest: the manifest digest (index or, with --platform, the child); equals sha256 of skopeo --raw", async () => {
    const d = await drayOk(["digest", at("app:v1")]);
    assert.equal(d.stdout, `${image.manifest.digest}\n`);
    assert.equal(d.stdout.trim(), sha256(await skopeoInspectRaw(at("app:v1"))));
    const idx = await drayOk(["digest", at("multi:latest")]);
    assert.equal(idx.stdout.trim(), index.manifest.digest.toString());
    const arm = await drayOk(["digest", "--platform", "linux/arm64", at("multi:latest")]);
    assert.equal(arm.stdout.trim(), index.images[1]!.manifest.digest.toString());
    const byDigest = await drayOk(["digest", `docker://${reg.host}/app@${image.manifest.digest}`]);
    assert.equal(byDigest.stdout.trim(), image.manifest.digest.toString());
  });

  it("--platform a single image does not have is exit 3 for digest, inspect and copy alike (issue 19, bug 4)", async () => {
    const own = await drayOk(["digest", "--platform", "linux/amd64", at("app:v1")]);
    assert.equal(own.stdout, `${image.manifest.digest}\n`, "its own platform picks the image itself");
    const dir = makeTempDir("dray-platform-");
    for (const args of [["digest"], ["inspect"], ["inspect", "--raw"], ["inspect", "--config"], ["copy", "-q"]]) {
      const r = await dray([...args, "--platform", "linux/arm64", at("app:v1"), ...(args[0] === "copy" ? [`oci:${dir}/out:v1`] : [])]);
      assert.equal(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "", `${args.join(" ")} printed nothing on stdout`);
      assert.match(r.stderr, /platform linux\/arm64 .*single-platform image for linux\/amd64/);
    }
  });

  it("delete: by tag, resolving the digest first; tells on stderr which other tags went with it", async () => {
    const other = await buildImage({ format: "oci", seed: "keep" });
    await pushImage({ url: reg.url }, "app", "keep", other);
    const r = await drayOk(["delete", at("app:v2")]);
    assert.equal(r.stdout, `${image.manifest.digest}\n`);
    assert.match(r.stderr, /Also gone \(they pointed at the same manifest\): stable, v1/);
    assert.deepEqual(await skopeoTags(at("app")), ["keep"]);
    const again = await dray(["delete", at("app:v2")]);
    assert.equal(again.code, 3, again.stderr);
  });

  it("delete --format json by digest", async () => {
    await pushImage({ url: reg.url }, "app", "v9", image);
    const r = await drayOk(["delete", "--format", "json", `docker://${reg.host}/app@${image.manifest.digest}`]);
    const doc = JSON.parse(r.stdout) as { Digest: string; AlsoRemovedTags: string[] };
    assert.equal(doc.Digest, image.manifest.digest.toString());
    assert.deepEqual(doc.AlsoRemovedTags, ["v9"]);
  });
});

describe("dray delete on a registry that refuses deletes", () => {
  it("exits 1 with a clear message and deletes nothing", async () => {
    const reg = await startRegistry();
    const image = await buildImage({ seed: "nodelete" });
    await pushImage({ url: reg.url }, "app", "v1", image);
    const r = await dray(["delete", `docker://${reg.host}/app:v1`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^dray: .*(delet|UNSUPPORTED|405)/i);
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    assert.deepEqual(await skopeoTags(`docker://${reg.host}/app`), ["v1"]);
  });
});

describe("dray tag / ls / digest / delete on layouts and archives written by skopeo", () => {
  let dir: string;
  let image: BuiltImage;
  let index: BuiltIndex;

  before(async () => {
    const reg = await startRegistry();
    dir = makeTempDir("dray-cmd-local-");
    image = await buildImage({ format: "oci", seed: "local" });
    index = await buildIndex({ format: "oci", seed: "local-idx" });
    await pushImage({ url: reg.url }, "img", "v1", image);
    await pushImage({ url: reg.url }, "idx", "v1", index);
    const src = (r: string): string => `docker://${reg.host}/${r}`;
    assertSkopeoOk(await skopeoCopy(src("img:v1"), `oci:${join(dir, "layout")}:v1`));
    assertSkopeoOk(await skopeoCopy(src("idx:v1"), `oci:${join(dir, "layout")}:multi`, ["--all"]));
    assertSkopeoOk(await skopeoCopy(src("img:v1"), `oci-archive:${join(dir, "img.tar")}:v1`));
    assertSkopeoOk(await skopeoCopy(src("img:v1"), `docker-archive:${join(dir, "img.docker.tar")}:example.test/img:v1`));
    await reg.stop();
  });

  it("OCI layout: ls, digest, tag (new ref.name skopeo can read), delete (ref and unreferenced blobs)", async () => {
    const layout = `oci:${join(dir, "layout")}`;
    assert.deepEqual((await drayOk(["ls", layout])).stdout.trim().split("\n").sort(), ["multi", "v1"]);
    assert.equal((await drayOk(["digest", `${layout}:v1`])).stdout.trim(), image.manifest.digest.toString());
    assert.equal((await drayOk(["digest", `${layout}:multi`])).stdout.trim(), index.manifest.digest.toString());
    await drayOk(["tag", `${layout}:v1`, "v1-copy"]);
    assert.ok((await skopeoInspectRaw(`${layout}:v1-copy`)).equals(image.manifest.bytes));
    const blobsBefore = (await readdir(join(dir, "layout", "blobs", "sha256"))).length;
    const del = await drayOk(["delete", `${layout}:multi`]);
    assert.equal(del.stdout.trim(), index.manifest.digest.toString());
    assert.match(del.stderr, /Removed \d+ unreferenced blobs/);
    const blobsAfter = (await readdir(join(dir, "layout", "blobs", "sha256"))).length;
    assert.ok(blobsAfter < blobsBefore);
    assert.ok(!existsSync(join(dir, "layout", index.manifest.digest.blobPath)));
    assert.deepEqual((await drayOk(["ls", layout])).stdout.trim().split("\n").sort(), ["v1", "v1-copy"]);
    // What remains is intact for an independent reader.
    assertSkopeoOk(await skopeo(["inspect", `${layout}:v1`]));
    const missing = await dray(["delete", `${layout}:multi`]);
    assert.equal(missing.code, 3, missing.stderr);
  });

  it("oci-archive: ls, digest, tag, delete", async () => {
    const arch = `oci-archive:${join(dir, "img.tar")}`;
    assert.equal((await drayOk(["ls", arch])).stdout, "v1\n");
    assert.equal((await drayOk(["digest", arch])).stdout.trim(), image.manifest.digest.toString());
    await drayOk(["tag", `${arch}:v1`, "v2"]);
    assert.deepEqual((await drayOk(["ls", arch])).stdout.trim().split("\n").sort(), ["v1", "v2"]);
    assert.ok((await skopeoInspectRaw(`${arch}:v2`)).equals(image.manifest.bytes));
    await drayOk(["delete", `${arch}:v1`]);
    assert.equal((await drayOk(["ls", arch])).stdout, "v2\n");
  });

  it("ls of a mirror archive's repository, oci-archive:FILE:REPO, lists that repository's tags (skopeo reads them as FILE:REPO:TAG)", async () => {
    const layouts = join(dir, "mirror-src");
    for (const [repo, tag] of [
      ["plain", "v1"],
      ["plain", "v2"],
      ["team/app", "1.2"],
      ["team/app-x", "9"],
    ] as const)
      await drayOk(["copy", "-q", `oci:${join(dir, "layout")}:v1`, `oci:${join(layouts, repo)}:${tag}`]);
    const file = join(dir, "mirror.tar");
    await drayOk(["sync", "-q", `oci:${layouts}`, `oci-archive:${file}`]);
    const arch = `oci-archive:${file}`;
    assert.equal((await drayOk(["ls", arch])).stdout, "plain:v1\nplain:v2\nteam/app-x:9\nteam/app:1.2\n");
    assert.equal((await drayOk(["ls", `${arch}:plain`])).stdout, "v1\nv2\n");
    assert.equal((await drayOk(["ls", `${arch}:team/app`])).stdout, "1.2\n", "team/app-x is another repository");
    const json = JSON.parse((await drayOk(["ls", "-f", "json", `${arch}:team/app`])).stdout) as unknown;
    assert.deepEqual(json, { Repository: `${arch}:team/app`, Tags: ["1.2"] });
    // What ls printed names images skopeo finds.
    assert.ok((await skopeoInspectRaw(`${arch}:team/app:1.2`)).equals(image.manifest.bytes));
    // A repository the archive lacks: not found, with the way to see what it holds.
    const none = await dray(["ls", `${arch}:team`]);
    assert.equal(none.code, 3, none.stderr);
    assert.equal(
      none.stderr,
      `dray: ${arch} holds no repository team (no name team:TAG) nor a tag of that name: dray ls ${arch} lists its names\n`,
    );
    // A name with its tag is still refused, and the message says how to list one repository.
    const tagged = await dray(["ls", `${arch}:plain:v1`]);
    assert.equal(tagged.code, 2, tagged.stderr);
    assert.match(tagged.stderr, /without a tag or digest \(oci-archive:.*mirror\.tar:REPO lists the tags of REPO in a mirror archive\)\n$/);
    // In an archive of plain tags, a tag is refused as before.
    await drayOk(["copy", "-q", `oci:${join(dir, "layout")}:v1`, `oci-archive:${join(dir, "tags.tar")}:v1`]);
    const plainTag = await dray(["ls", `oci-archive:${join(dir, "tags.tar")}:v1`]);
    assert.equal(plainTag.code, 2, plainTag.stderr);
    assert.match(plainTag.stderr, /^dray: ls lists every tag of a repository, layout or archive: give .* without a tag or digest/);
  });

  it("delete without a reference in a layout or archive is exit 2 and changes nothing (an empty $TAG must not wipe it; issue 19, bug 9)", async () => {
    const single = join(dir, "single");
    await drayOk(["copy", "-q", `oci:${join(dir, "layout")}:v1`, `oci:${single}:v1`]);
    await drayOk(["copy", "-q", `oci:${single}:v1`, `oci:${single}:v1-again`]);
    await drayOk(["copy", "-q", `oci:${single}:v1`, `oci-archive:${join(dir, "single.tar")}:v1`]);
    await drayOk(["copy", "-q", `oci:${single}:v1`, `docker-archive:${join(dir, "single.docker.tar")}:example.test/one:v1`]);
    for (const loc of [`oci:${single}`, `oci-archive:${join(dir, "single.tar")}`, `docker-archive:${join(dir, "single.docker.tar")}`]) {
      const file = loc.startsWith("oci:") ? join(single, "index.json") : loc.slice(loc.indexOf(":") + 1);
      const before = await readFile(file);
      const r = await dray(["delete", loc]);
      assert.equal(r.code, 2, `${loc}: ${r.stderr}`);
      assert.match(r.stderr, /^dray: delete needs a reference: .*TAG/);
      assert.ok((await readFile(file)).equals(before), `${loc} is unchanged`);
    }
  });

  it("docker-archive: ls shows RepoTags, digest is computed locally and stable, tag adds a RepoTag", async () => {
    const arch = `docker-archive:${join(dir, "img.docker.tar")}`;
    assert.equal((await drayOk(["ls", arch])).stdout, "example.test/img:v1\n");
    const d1 = (await drayOk(["digest", arch])).stdout.trim();
    const raw = (await drayOk(["inspect", "--raw", arch])).stdoutBytes;
    assert.equal(d1, sha256(raw));
    assert.equal((await drayOk(["digest", arch])).stdout.trim(), d1);
    await drayOk(["tag", `${arch}:example.test/img:v1`, "v2"]);
    const tags = (await drayOk(["ls", arch])).stdout.trim().split("\n").sort();
    assert.deepEqual(tags, ["example.test/img:v1", "example.test/img:v2"]);
  });
});
