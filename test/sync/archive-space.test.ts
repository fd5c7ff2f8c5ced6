// Issue 27 item 27: a whole-mirror oci-archive is staged in $TMPDIR, not
// beside the archive (a USB disk needs room for the archive once, not twice),
// and the free space a run needs is checked before an image's first layer
// moves: a one-line error naming the bytes needed and available, exit 1.
// The "USB disk" is a real 8 MiB tmpfs (the tests run as root), so the
// kernel's own statfs answers, and ENOSPC is what the old staging met.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";

const MIB = 1024 * 1024;

describe("dray sync into oci-archive: staging and free space", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let dir: string;
  let app: BuiltImage;
  let big: BuiltImage;
  const mounts: string[] = [];

  /** A fresh 8 MiB tmpfs: the small disk the archive goes to. */
  function smallDisk(name: string, size = "8m"): string {
    const at = join(dir, name);
    mkdirSync(at);
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", at]);
    mounts.push(at);
    return at;
  }

  function layerGets(image: BuiltImage): number {
    return proxy.count("GET", image.layers[0]!.digest.toString());
  }

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    isolateCredentials();
    dir = makeTempDir("dray-archive-space-");
    reg = await startRegistry();
    proxy = await startProxy(reg);
    app = await buildImage({ seed: "space-app", layerSizes: [5 * MIB] });
    big = await buildImage({ seed: "space-big", layerSizes: [10 * MIB] });
    await pushImage(reg, "team/app", "1.0", app);
    await pushImage(reg, "team/big", "1.0", big);
  });
  after(async () => {
    for (const m of mounts) execFileSync("umount", [m]);
    await proxy.stop();
  });

  it("stages in TMPDIR: a 5 MiB mirror fits an 8 MiB disk", async () => {
    const usb = smallDisk("usb1");
    const tmp = join(dir, "tmp1");
    mkdirSync(tmp);
    const file = join(usb, "mirror.tar");
    const r = await dray(["sync", `docker://${proxy.host}/team/app`, `oci-archive:${file}`], { env: { TMPDIR: tmp } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(usb), ["mirror.tar"]);
    const raw = await skopeoInspectRaw(`oci-archive:${file}:team/app:1.0`);
    assert.ok(raw.equals(app.manifest.bytes));
    // The staging folder went with the run.
    const own = readdirSync(tmp).flatMap((d) => readdirSync(join(tmp, d)));
    assert.deepEqual(
      own.filter((n) => n.startsWith(".dray-mirror-")),
      [],
    );

    // Carried on a disk mounted read-only, the archive is a source: nothing is staged or written beside it.
    execFileSync("mount", ["-o", "remount,ro", usb]);
    const back = await dray(["sync", `oci-archive:${file}`, `docker://${proxy.host}/back`], { env: { TMPDIR: tmp } });
    assert.equal(back.code, 0, back.stderr);
    const res = await fetch(`${reg.url}/v2/back/team/app/manifests/1.0`, { method: "HEAD", headers: { accept: app.manifest.mediaType } });
    assert.equal(res.headers.get("docker-content-digest"), app.manifest.digest.toString());
  });

  it("refuses an image the archive's disk cannot hold before its layer moves", async () => {
    const usb = smallDisk("usb2");
    const tmp = join(dir, "tmp2");
    mkdirSync(tmp);
    const file = join(usb, "big.tar");
    const gets = layerGets(big);
    const r = await dray(["sync", `docker://${proxy.host}/team/big`, `oci-archive:${file}`], { env: { TMPDIR: tmp } });
    assert.equal(r.code, 1, r.stderr);
    const m = /not enough free space for oci-archive:\S*big\.tar: the archive needs (\d+) bytes in (\S+), (\d+) available/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.equal(m[2], usb);
    assert.ok(Number(m[1]) > 10 * MIB && Number(m[3]) <= 8 * MIB, m[0]);
    assert.equal(layerGets(big), gets, "the layer was not fetched");
    assert.deepEqual(readdirSync(usb), []);
  });

  it("counts staging and archive together when TMPDIR is on the same disk", async () => {
    const usb = smallDisk("usb3");
    const tmp = join(usb, "tmp");
    mkdirSync(tmp);
    const gets = layerGets(app);
    const r = await dray(["sync", `docker://${proxy.host}/team/app`, `oci-archive:${join(usb, "mirror.tar")}`], { env: { TMPDIR: tmp } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /not enough free space for oci-archive:\S*mirror\.tar: the archive and its staging folder \(one disk\) needs \d+ bytes in /,
    );
    assert.equal(layerGets(app), gets);
    assert.deepEqual(readdirSync(usb), ["tmp"]);
  });

  /**
   * A single-image copy of the 10 MiB image into an archive on a 16 MiB disk: the tar is written beside the file and
   * blobs are spooled there first, 10 MiB twice over. Refused in one line before the layer moves; returns the disk.
   */
  async function bigCopyRefused(kind: "oci-archive" | "docker-archive", name: string): Promise<string> {
    const usb = smallDisk(`usb-${kind}`, "16m");
    const file = join(usb, "big.tar");
    const gets = layerGets(big);
    const r = await dray(["copy", `docker://${proxy.host}/team/big:1.0`, `${kind}:${file}${name}`]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("dray: "));
    assert.equal(lines.length, 1, r.stderr);
    const m = new RegExp(
      `not enough free space for ${kind}:\\S*big\\.tar: the archive and its spool folder \\(one disk\\) needs (\\d+) bytes in (\\S+), (\\d+) available`,
    ).exec(lines[0]!);
    assert.ok(m, r.stderr);
    assert.equal(m[2], usb);
    assert.ok(Number(m[1]) > 20 * MIB && Number(m[3]) <= 16 * MIB, m[0]);
    assert.equal(layerGets(big), gets, "the layer was not fetched");
    assert.deepEqual(readdirSync(usb), []);
    return usb;
  }

  it("a single-image copy into an oci-archive is checked the same way before its layer moves", async () => {
    const usb = await bigCopyRefused("oci-archive", "");
    // What fits goes in as before: 5 MiB, twice over, on the same disk.
    const ok = await dray(["copy", `docker://${proxy.host}/team/app:1.0`, `oci-archive:${join(usb, "app.tar")}`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok((await skopeoInspectRaw(`oci-archive:${join(usb, "app.tar")}`)).equals(app.manifest.bytes));
    assert.deepEqual(readdirSync(usb), ["app.tar"]);
  });

  it("a single-image copy into a docker-archive too (every blob spooled, then the tar; it used to fill the disk, then ENOSPC)", async () => {
    await bigCopyRefused("docker-archive", ":team/big:1.0");
  });

  it("a blob the archive already holds is counted once: the same 5 MiB image again under a new tag fits", async () => {
    // 16 MiB disk, the archive holding app (5 MiB) leaves ~11 MiB: the new tar (the old one's 5 MiB, app's blobs
    // once) plus app's spooled layer is ~10 MiB. Counted twice (old archive + the same blobs again) it was ~15.
    for (const [kind, name] of [
      ["oci-archive", "team/app:1.0"],
      ["docker-archive", "team/app:1.0"],
    ] as const) {
      const usb = smallDisk(`usb-again-${kind}`, "16m");
      const file = join(usb, "app.tar");
      const first = await dray(["copy", "-q", `docker://${proxy.host}/team/app:1.0`, `${kind}:${file}:${name}`]);
      assert.equal(first.code, 0, first.stderr);
      const again = await dray(["copy", "-q", `docker://${proxy.host}/team/app:1.0`, `${kind}:${file}:${name.replace("1.0", "again")}`]);
      assert.equal(again.code, 0, `${kind}: ${again.stderr}`);
      // (skopeo cannot read this fixture's layer from a docker-archive: its gzip header's 1 KiB comment is over Go's limit.)
      const digest = await dray(["digest", `${kind}:${file}:${name.replace("1.0", "again")}`]);
      assert.equal(digest.stdout, `${app.manifest.digest}\n`, digest.stderr);
      assert.deepEqual(readdirSync(usb), ["app.tar"]);
    }
  });

  it("a failed image gives its room back: a later image that fits only then is synced", async () => {
    // Two 5 MiB images for an 8 MiB disk (TMPDIR elsewhere): the first fails (its layer answers 404),
    // the second fits only once the first's reservation is gone, as its blobs are not packed.
    const two = await startRegistry();
    const twoProxy = await startProxy(two);
    const first = await buildImage({ seed: "space-first", layerSizes: [5 * MIB] });
    const second = await buildImage({ seed: "space-second", layerSizes: [5 * MIB] });
    await pushImage(two, "team/a", "1.0", first);
    await pushImage(two, "team/b", "1.0", second);
    twoProxy.addRule({ method: "GET", path: first.layers[0]!.digest.toString(), action: { kind: "status", status: 404 } });
    const usb = smallDisk("usb5");
    const tmp = join(dir, "tmp5");
    mkdirSync(tmp);
    const file = join(usb, "mirror.tar");
    const r = await dray(["sync", "--jobs", "1", twoProxy.host, `oci-archive:${file}`], { env: { TMPDIR: tmp } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /team\/a:1\.0/);
    assert.doesNotMatch(r.stderr, /not enough free space/);
    assert.ok((await skopeoInspectRaw(`oci-archive:${file}:team/b:1.0`)).equals(second.manifest.bytes));
    await twoProxy.stop();
  });
});
