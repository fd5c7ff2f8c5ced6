// An archive rewritten in place (dray tag, dray delete, a copy into an
// existing archive) must stay the file the user had: same mode (a private
// archive stays private), a symlink keeps naming it (the target is
// rewritten, the link stays a link), and a file the user could not write is
// refused rather than replaced by rename (issue 19, bug 2).
import assert from "node:assert/strict";
import { chmod, chown, lstat, mkdir, readFile, readlink, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { skopeoInspect } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "./run.js";

/** nobody:nogroup on Debian: a user who may not write a file root owns. */
const NOBODY = { uid: 65534, gid: 65534 };
const isRoot = process.getuid?.() === 0;

describe("archives rewritten in place keep mode, symlinks and permissions", () => {
  let work: string;
  let seed: string;
  let image: BuiltImage;
  let n = 0;

  /** A new oci-archive (tag v1) in its own folder. */
  async function archive(): Promise<string> {
    const dir = join(work, `a${n++}`);
    await mkdir(dir);
    const file = join(dir, "image.tar");
    await drayOk(["copy", "-q", `oci:${seed}:v1`, `oci-archive:${file}:v1`]);
    return file;
  }

  before(async () => {
    work = makeTempDir("dray-in-place-");
    seed = join(work, "seed");
    image = await buildImage({ seed: "in-place" });
    await writeOciLayout(seed, image, "v1");
  });

  it("tag keeps a chmod 600 archive at 0600", async () => {
    const file = await archive();
    await chmod(file, 0o600);
    await drayOk(["tag", `oci-archive:${file}:v1`, "v2"]);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await skopeoInspect(`oci-archive:${file}:v2`);
  });

  it("delete and a copy into the archive keep its mode (0640)", async () => {
    const file = await archive();
    await drayOk(["tag", `oci-archive:${file}:v1`, "v2"]);
    await chmod(file, 0o640);
    await drayOk(["delete", `oci-archive:${file}:v2`]);
    assert.equal((await stat(file)).mode & 0o777, 0o640);
    await drayOk(["copy", "-q", `oci:${seed}:v1`, `oci-archive:${file}:v3`]);
    assert.equal((await stat(file)).mode & 0o777, 0o640);
  });

  it("a symlink to the archive stays a symlink; its target holds the new tag", async () => {
    const file = await archive();
    const link = join(work, `link${n++}.tar`);
    await symlink(file, link);
    await drayOk(["tag", `oci-archive:${link}:v1`, "v2"]);
    assert.ok((await lstat(link)).isSymbolicLink(), "the link is still a link");
    assert.equal(await readlink(link), file);
    await skopeoInspect(`oci-archive:${file}:v2`);
  });

  it("when root rewrites another user's archive, the owner stays", { skip: !isRoot && "needs root to chown" }, async () => {
    const file = await archive();
    await chown(file, NOBODY.uid, NOBODY.gid);
    await drayOk(["tag", `oci-archive:${file}:v1`, "v2"]);
    const st = await stat(file);
    assert.deepEqual([st.uid, st.gid], [NOBODY.uid, NOBODY.gid]);
  });

  it(
    "a read-only archive of another owner in a folder anyone may write is refused (exit 1), not replaced",
    { skip: !isRoot && "needs root to run dray as another user" },
    async () => {
      const file = await archive();
      const folder = join(file, "..");
      await chmod(work, 0o755);
      await chmod(folder, 0o777); // the rename would succeed: only the file's own permission says no
      await chmod(file, 0o644);
      const before = await readFile(file);
      const r = await dray(["tag", `oci-archive:${file}:v1`, "v2"], { user: NOBODY, env: { TMPDIR: folder } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^dray: cannot write .*image\.tar: permission denied\n$/);
      const st = await stat(file);
      assert.equal(st.uid, 0, "still root's file");
      assert.ok((await readFile(file)).equals(before), "the archive is unchanged");
    },
  );
});
