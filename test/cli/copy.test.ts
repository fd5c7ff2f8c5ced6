// `dray copy` as a user runs it (child process), between OCI layouts, with
// skopeo reading what dray wrote. Registry and archive pairs live in
// test/copy/matrix.test.ts.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, readdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { parseManifest } from "../../src/oci/manifest.js";
import { buildIndex, writeOciLayout, type BuiltIndex } from "../helpers/fixtures.js";
import { requireTool } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "./run.js";

describe("dray copy between OCI layouts", () => {
  let dir: string;
  let src: string;
  let built: BuiltIndex;

  before(async () => {
    requireTool("skopeo");
    dir = makeTempDir("dray-cli-copy-");
    src = join(dir, "src");
    built = await buildIndex({ sharedBaseLayer: true, layerCount: 2, layerSize: 200_000, seed: "cli-copy" });
    await writeOciLayout(src, built, "v1");
  });

  it("copies the whole index: the digest on stdout, a summary on stderr, skopeo reads the same bytes", async () => {
    const dst = join(dir, "whole");
    const r = await dray(["copy", `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${built.manifest.digest}\n`);
    assert.match(r.stderr, /Copied oci:.*src:v1 to oci:.*whole:v1: 4 manifests, blobs 10 copied \(.* MB\), 0 skipped in [\d.]+ s/);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dst}:v1`), built.manifest.bytes);
    for (const img of built.images) {
      assert.deepEqual(await readFile(join(dst, img.manifest.digest.blobPath)), img.manifest.bytes);
      for (const l of img.layers) assert.ok(existsSync(join(dst, l.digest.blobPath)));
    }
  });

  it("into a docker-archive: the digest printed is the one `dray digest` reads back", async () => {
    const archive = join(dir, "one.tar");
    const r = await dray(["copy", "-q", "--platform", "linux/arm64", `oci:${src}:v1`, `docker-archive:${archive}:demo/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const back = await dray(["digest", `docker-archive:${archive}`]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdout, r.stdout);
  });

  it("a destination named by digest takes only that image: another is exit 5 and the destination stays as it was", async () => {
    const other = Digest.of("another image");
    for (const dst of [`oci:${join(dir, "by-digest")}:${other}`, `oci-archive:${join(dir, "by-digest.tar")}:${other}`]) {
      const r = await dray(["copy", `oci:${src}:v1`, dst]);
      assert.equal(r.code, 5, `${dst}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`destination names ${other} but the image is ${built.manifest.digest}`));
    }
    assert.ok(!existsSync(join(dir, "by-digest")) && !existsSync(join(dir, "by-digest.tar")));
    const right = join(dir, "by-right-digest");
    assert.equal((await dray(["copy", "-q", `oci:${src}:v1`, `oci:${right}:${built.manifest.digest}`])).code, 0);
    assert.deepEqual(await skopeoInspectRaw(`oci:${right}`), built.manifest.bytes);
  });

  it("a registry's @digest form on a local location is refused with the colon form it means (not a folder DIR@sha256)", async () => {
    const at = `oci:${join(dir, "at-form")}@${built.manifest.digest}`;
    const r = await dray(["copy", `oci:${src}:v1`, at]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^dray: invalid location "oci:.*at-form@sha256:[0-9a-f]+\.\.\.": a local location takes its digest after a colon: /,
    );
    assert.ok(r.stderr.endsWith(`oci:${join(dir, "at-form")}:${built.manifest.digest}\n`), r.stderr);
    assert.ok(!existsSync(join(dir, "at-form@sha256")));
  });

  it("a second copy to the same tag is up to date, and `cp` is an alias", async () => {
    const dst = join(dir, "again");
    assert.equal((await dray(["cp", "-q", `oci:${src}:v1`, `oci:${dst}:v1`])).code, 0);
    const r = await dray(["cp", `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${built.manifest.digest}\n`);
    assert.match(r.stderr, /is up to date \(sha256:[0-9a-f]{64}\); nothing copied/);
  });

  it("a copy to another tag of a layout that has every blob skips them all", async () => {
    const dst = join(dir, "skip");
    assert.equal((await dray(["cp", "-q", `oci:${src}:v1`, `oci:${dst}:v1`])).code, 0);
    const r = await dray(["cp", "--format", "json", `oci:${src}:v1`, `oci:${dst}:v2`]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { Blobs: { Copied: number; Skipped: number }; Manifests: number; Bytes: number };
    assert.deepEqual(summary.Blobs, { Copied: 0, Skipped: 10, Mounted: 0 });
    assert.equal(summary.Bytes, 0);
    assert.equal(summary.Manifests, 4);
  });

  it("--format json prints one summary document and --digestfile writes the digest", async () => {
    const dst = join(dir, "json");
    const digestFile = join(dir, "digest.txt");
    const r = await dray(["copy", "--format", "json", "--digestfile", digestFile, `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    // skopeo's capitalised keys, as inspect, ls and delete print (issue 19, bug 3); every key present
    assert.deepEqual(Object.keys(s).sort(), [
      "Blobs",
      "Bytes",
      "Destination",
      "Digest",
      "Manifests",
      "MediaType",
      "Notice",
      "Platforms",
      "Referrers",
      "Seconds",
      "ServedBy",
      "Signed",
      "Source",
      "UpToDate",
    ]);
    assert.equal(s.Source, `oci:${src}:v1`);
    assert.equal(s.Destination, `oci:${dst}:v1`);
    assert.equal(s.Digest, built.manifest.digest.toString());
    assert.equal(s.MediaType, "application/vnd.oci.image.index.v1+json");
    assert.equal(s.Manifests, 4);
    assert.deepEqual(s.Blobs, { Copied: 10, Skipped: 0, Mounted: 0 });
    assert.equal(typeof s.Seconds, "number");
    assert.equal(s.Platforms, null);
    assert.equal(await readFile(digestFile, "utf8"), built.manifest.digest.toString());
  });

  it("--format templates use the JSON keys; a field the summary lacks is exit 2 before anything moves (issue 19, bug 3)", async () => {
    const ok = await dray(["copy", "--format", "{{.Digest}} {{.Blobs.Copied}}", `oci:${src}:v1`, `oci:${join(dir, "tpl")}:v1`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `${built.manifest.digest} 10\n`);
    const empty = await dray(["copy", "-q", "--format", "{{if .UpToDate}}same{{end}}", `oci:${src}:v1`, `oci:${join(dir, "tpl2")}:v1`]);
    assert.equal(empty.stdout, "\n", "an empty result is still one line");
    const dst = join(dir, "tpl-typo");
    const typo = await dray(["copy", "--format", "{{.digest}}", `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^dray: invalid --format template: no field "digest" in the output \(it has Source, Destination, Digest/);
    assert.equal(existsSync(dst), false, "nothing was written");
    const fn = await dray(["copy", "--format", "{{title .Digest}}", `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(fn.code, 2);
    assert.match(fn.stderr, /function "title" not defined/);
  });

  it("--progress none and -q keep stderr empty (also with an archive on stdout); -q with --progress json is exit 2 (issue 19)", async () => {
    const none = await dray(["copy", "--progress", "none", `oci:${src}:v1`, `oci:${join(dir, "none")}:v1`]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stderr, "");
    assert.equal(none.stdout, `${built.manifest.digest}\n`);
    const quiet = await dray(["copy", "-q", "--platform", "linux/amd64", `oci:${src}:v1`, "oci-archive:-"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, "", "no digest on stderr under -q");
    const both = await dray(["copy", "-q", "--progress", "json", `oci:${src}:v1`, `oci:${join(dir, "both")}:v1`]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /^dray: -q and --progress json contradict each other/);
  });

  it("--digestfile into a missing folder is exit 2 before anything is copied (issue 19)", async () => {
    const dst = join(dir, "digestfile-missing");
    const r = await dray(["copy", "--digestfile", join(dir, "no", "such", "d.txt"), `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dray: --digestfile .*d\.txt: the folder .*such does not exist; create it first or choose another folder\n$/);
    assert.equal(existsSync(dst), false, "nothing was copied");
    const isDir = await dray(["copy", "--digestfile", dir, `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(isDir.code, 2);
    assert.match(isDir.stderr, /is a directory; give a file name/);
  });

  it("a layout written inside another layout's folder, either way round, is exit 2 before anything moves", async () => {
    const tree = async (d: string): Promise<string[]> => (await readdir(d, { recursive: true })).map(String).sort();
    const before = await tree(src);
    const refused: Array<[string, string, RegExp]> = [
      [`oci:${src}:v1`, `oci:${src}/b:v1`, /^dray: the destination oci:.*\/b:v1 is inside the source layout's folder /],
      [`oci:${src}:v1`, `oci:${src}/blobs/sha256/x:v1`, /is inside the source layout's folder/],
      [`oci:${src}:v1`, `oci-archive:${src}/x.tar:v1`, /is inside the source layout's folder/],
      [`oci:${src}/../${basename(src)}:v1`, `oci:${src}/./c:v1`, /is inside the source layout's folder/],
    ];
    for (const [from, to, line] of refused) {
      const r = await dray(["copy", from, to]);
      assert.equal(r.code, 2, `${from} -> ${to}: ${r.stderr}`);
      assert.match(r.stderr, line);
      assert.equal(r.stderr.split("\n").length, 2, "one line");
    }
    const all = await dray(["copy", "--all-tags", `oci:${src}`, `oci:${src}/all`]);
    assert.equal(all.code, 2, all.stderr);
    assert.deepEqual(await tree(src), before, "nothing written into the source layout");
    // The other way round: a destination layout whose folder holds the source.
    const outer = join(dir, "outer");
    const inner = join(outer, "inner");
    assert.equal((await dray(["copy", "-q", `oci:${src}:v1`, `oci:${inner}:v1`])).code, 0);
    const wraps = await dray(["copy", `oci:${inner}:v1`, `oci:${outer}:v1`]);
    assert.equal(wraps.code, 2, wraps.stderr);
    assert.match(wraps.stderr, /^dray: the destination layout .*outer would hold the source oci:.*inner:v1 inside its folder/);
    assert.equal(existsSync(join(outer, "index.json")), false);
    // The same layout (a new tag) and a layout beside it stay fine.
    assert.equal((await dray(["copy", "-q", `oci:${inner}:v1`, `oci:${inner}:v2`])).code, 0);
    assert.equal((await dray(["copy", "-q", `oci:${inner}:v1`, `oci:${join(dir, "beside")}:v1`])).code, 0);
  });

  it("a failed copy leaves the destination as it was: a new layout is removed, an existing one keeps no orphaned blob (issue 19)", async () => {
    const broken = join(dir, "broken-src");
    const img = await buildIndex({ layerCount: 3, layerSize: 40_000, seed: "broken" });
    await writeOciLayout(broken, img, "v1");
    await rm(join(broken, img.images[1]!.layers[2]!.digest.blobPath));
    const fresh = join(dir, "fresh-dst");
    const r = await dray(["copy", "-q", `oci:${broken}:v1`, `oci:${fresh}:v1`]);
    assert.notEqual(r.code, 0);
    assert.equal(existsSync(fresh), false, `the new layout is gone: ${r.stderr}`);
    const existing = join(dir, "existing-dst");
    await writeOciLayout(existing, await buildIndex({ seed: "existing" }), "old");
    const before = (await readdir(join(existing, "blobs", "sha256"))).sort();
    const again = await dray(["copy", "-q", `oci:${broken}:v1`, `oci:${existing}:v1`]);
    assert.notEqual(again.code, 0);
    assert.deepEqual((await readdir(join(existing, "blobs", "sha256"))).sort(), before, "no blob of the failed run is left");
  });

  it("--platform writes a new index of just that platform and prints its digest", async () => {
    const dst = join(dir, "arm");
    const r = await dray(["copy", "--platform", "linux/arm64", `oci:${src}:v1`, `oci:${dst}:arm`]);
    assert.equal(r.code, 0, r.stderr);
    const digest = r.stdout.trim();
    assert.notEqual(digest, built.manifest.digest.toString());
    const raw = await skopeoInspectRaw(`oci:${dst}:arm`);
    assert.equal(Digest.of(raw).toString(), digest);
    const parsed = parseManifest(raw);
    assert.ok(parsed.kind === "index");
    assert.deepEqual(
      parsed.manifests.map((d) => d.digest.toString()),
      [built.images[1]!.manifest.digest.toString()],
    );
    // The other platforms' own layers did not move.
    const blobs = await readdir(join(dst, "blobs", "sha256"));
    assert.ok(!blobs.includes(built.images[0]!.layers.at(-1)!.digest.hex));
  });

  it("a platform the index lacks exits 3 with one line and leaves no destination", async () => {
    const dst = join(dir, "missing");
    const r = await dray(["copy", "--platform", "linux/s390x", `oci:${src}:v1`, `oci:${dst}:v1`]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^dray: platform linux\/s390x not found in oci:.*\(available: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7\)\n$/m,
    );
    assert.equal(r.stderr.trim().split("\n").at(-1)?.startsWith("dray: platform"), true);
    const index = existsSync(join(dst, "index.json"))
      ? (JSON.parse(await readFile(join(dst, "index.json"), "utf8")) as { manifests: unknown[] })
      : { manifests: [] };
    assert.equal(index.manifests.length, 0, "no tag was written");
  });

  it("conversion: impossible or malformed flags exit 2 before anything moves; --compress zstd prints the new digest", async () => {
    for (const [args, re] of [
      [["--manifest-format", "docker", "--compress", "zstd"], /Docker's manifest format has no zstd/],
      [["--compress", "lz4"], /--compress must be gzip, zstd or none/],
      [["--compress", "gzip", "--compress-level", "12"], /--compress-level for gzip is 0\.\.9/],
      [["--manifest-format", "v2s2"], /--manifest-format must be oci or docker/],
    ] as const) {
      const dst = join(dir, "never");
      const r = await dray(["copy", ...args, `oci:${src}:v1`, `oci:${dst}:v1`]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(existsSync(dst), false, "nothing written");
    }
    const z = join(dir, "zstd");
    const r = await dray(["copy", "-q", "--platform", "linux/amd64", "--compress", "zstd", `oci:${src}:v1`, `oci:${z}:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const m = parseManifest(await skopeoInspectRaw(`oci:${z}:v1`));
    assert.equal(Digest.of(await skopeoInspectRaw(`oci:${z}:v1`)).toString(), r.stdout.trim());
    assert.ok(m.kind === "index" && m.manifests.length === 1);
  });

  it("usage errors exit 2", async () => {
    const bad = await dray(["copy", "--jobs", "0", `oci:${src}:v1`, `oci:${dir}/x:v1`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--jobs expects an integer/);
    const progress = await dray(["copy", "--progress", "loud", `oci:${src}:v1`, `oci:${dir}/x:v1`]);
    assert.equal(progress.code, 2);
    const creds = await dray(["copy", "--creds", "nocolon", `oci:${src}:v1`, `oci:${dir}/x:v1`]);
    assert.equal(creds.code, 2);
    assert.match(creds.stderr, /^dray: --creds expects USER:PASS\n$/);
    assert.ok(!creds.stderr.includes("nocolon"), "the credential text is not echoed");
  });

  it("a missing source tag exits 3", async () => {
    const r = await dray(["copy", `oci:${src}:nope`, `oci:${dir}/y:v1`]);
    assert.equal(r.code, 3, r.stderr);
  });
});

describe("dray copy progress off a terminal", () => {
  let dir: string;
  let src: string;

  before(async () => {
    dir = makeTempDir("dray-cli-progress-");
    src = join(dir, "src");
    await writeOciLayout(src, await buildIndex({ layerCount: 1, layerSize: 100_000, seed: "cli-progress" }), "v1");
  });

  it("auto is plain lines: one per finished blob and manifest, no escape codes", async () => {
    const r = await dray(["copy", `oci:${src}:v1`, `oci:${dir}/plain:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.match(/^copied blob sha256:[0-9a-f]{12} \(/gm)?.length, 6);
    assert.equal(r.stderr.match(/^stored (top )?manifest /gm)?.length, 4);
    assert.ok(!r.stderr.includes("\u001b["), "no ANSI escapes in a log");
  });

  it("json is one event object a line on stderr, stdout keeps the digest", async () => {
    const r = await dray(["copy", "--progress", "json", `oci:${src}:v1`, `oci:${dir}/json:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const lines = r.stderr.trim().split("\n");
    const events = lines.map((l) => JSON.parse(l) as { type: string });
    assert.equal(events.at(-1)!.type, "done", "only JSON: the summary is the done event, no plain line (issue 28 item 19)");
    const types = new Set(events.map((e) => e.type));
    for (const t of ["manifest-resolved", "plan", "blob-start", "blob-bytes", "blob-done", "manifest-put", "done"])
      assert.ok(types.has(t), t);
  });

  it("-q prints nothing on stderr", async () => {
    const r = await dray(["copy", "-q", `oci:${src}:v1`, `oci:${dir}/quiet:v1`]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^sha256:/);
  });
});

describe("dray copy to an archive on stdout", () => {
  it("docker-archive:- writes the archive to stdout and the summary to stderr; skopeo reads it", async () => {
    const dir = makeTempDir("dray-cli-stdout-");
    const src = join(dir, "src");
    const built = await buildIndex({ layerCount: 1, layerSize: 50_000, seed: "stdout" });
    await writeOciLayout(src, built, "v1");
    const r = await dray(["copy", "--format", "json", "--platform", "linux/arm64", `oci:${src}:v1`, "docker-archive:-"]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stderr.slice(r.stderr.indexOf("{"))) as { Digest: string; Platforms: string[] };
    assert.deepEqual(summary.Platforms, ["linux/arm64/v8"]);
    const tarFile = join(dir, "out.tar");
    await (await import("node:fs/promises")).writeFile(tarFile, r.stdoutBytes);
    const raw = await skopeoInspectRaw(`docker-archive:${tarFile}`);
    const m = parseManifest(raw);
    assert.ok(m.kind === "manifest");
    assert.equal(m.config.digest.toString(), built.images[1]!.config.digest.toString());
  });
});
