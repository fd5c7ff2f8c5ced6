// Another local user against dray (issue 26 items 1 and 2, issue 27 item 5).
// The suite runs as root; a second account, `nobody`, plants files through
// `setpriv` in a sticky, world-writable folder of the test's own (as /tmp
// is), which is dray's TMPDIR for these runs:
//  - names shaped like dray's temporaries of a dead process (folders holding
//    files and links, links to root's files, and a folder that a swapper
//    keeps turning into a link to root's files while dray sweeps);
//  - dray's own per-user folder, made first by `nobody`;
//  - a link where root's archive or layout destination goes, pointing at a
//    root-owned 0600 file (or folder).
// Nothing of nobody's may be touched, nothing of root's overwritten or
// deleted, and a SIGKILL during `--compress` may leave nothing for good.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { checkStillNamed } from "../../src/transport/protected-links.js";
import { buildImage, pushImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { assertNoSecretsPrinted, caseIt, lastLine, run, snapshotTree, start, startResults, waitFor } from "./support.js";

startResults(import.meta.url);

const NOBODY = 65534;

/** Runs a command as `nobody` (no groups), as a second local user would. */
function asNobody(cmd: string[]): void {
  const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...cmd], { encoding: "utf8" });
  assert.equal(r.status, 0, `setpriv ${cmd.join(" ")}: ${r.stderr}`);
}

/** Starts a command as `nobody` in the background (the swapper). */
function spawnAsNobody(cmd: string[]): ChildProcess {
  return spawn("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...cmd], { stdio: "ignore" });
}

/** A pid no process has now (a child that has exited). */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

let work: string;
let img: BuiltImage;
let srcLayout: string;
let archive: string;

/** A fresh sticky, world-writable folder (like /tmp) for one case, and root's private folder beside it. */
async function scene(name: string): Promise<{ tmp: string; root: string }> {
  const base = join(work, name);
  const tmp = join(base, "tmp");
  const root = join(base, "root-only");
  await mkdir(tmp, { recursive: true });
  await mkdir(root, { recursive: true });
  await chmod(base, 0o755);
  await chmod(tmp, 0o1777);
  await chmod(root, 0o700);
  await writeFile(join(root, "secret"), "root's secret\n", { mode: 0o600 });
  await mkdir(join(root, "keep"));
  await writeFile(join(root, "keep", "a"), "a\n");
  await writeFile(join(root, "keep", "b"), "b\n");
  await mkdir(join(root, "empty"));
  return { tmp, root };
}

before(async () => {
  requireTool("docker-registry");
  work = makeTempDir("dray-rel-users-");
  await chmod(work, 0o755);
  img = await buildImage({ seed: "local-users", layerCount: 2 });
  srcLayout = join(work, "src");
  await writeOciLayout(srcLayout, img, "v1");
  archive = join(work, "img.tar");
  const r = await run(["copy", `oci:${srcLayout}:v1`, `oci-archive:${archive}:v1`]);
  assert.equal(r.code, 0, r.stderr);
});

describe("another local user", () => {
  caseIt(
    "local-user",
    "another user's look-alike temporaries in TMPDIR: not touched, links not followed",
    "nobody plants in TMPDIR (sticky, 1777) .dray-stdin-DEADPID-x/ (a file and a link to root's folder), .dray-spool-DEADPID-y -> root's folder, .dray-recompress-DEADPID-z/; root runs dray copy oci-archive:- (stdin spooled), 3 times",
    async () => {
      const { tmp, root } = await scene("lookalikes");
      const pid = deadPid();
      asNobody([
        "sh",
        "-c",
        `cd ${tmp} && mkdir .dray-stdin-${pid}-x && echo mine > .dray-stdin-${pid}-x/f && ln -s ${root}/keep .dray-stdin-${pid}-x/link` +
          ` && ln -s ${root}/keep .dray-spool-${pid}-y && mkdir .dray-recompress-${pid}-z && echo mine > .dray-recompress-${pid}-z/g`,
      ]);
      const planted = await snapshotTree(tmp);
      const rootBefore = await snapshotTree(root);
      for (let i = 0; i < 3; i++) {
        const r = await run(["copy", "oci-archive:-", `oci:${join(work, "lookalikes", `out${i}`)}:v1`], {
          input: await readFile(archive),
          env: { TMPDIR: tmp },
        });
        assert.equal(r.code, 0, r.stderr);
      }
      const after = await snapshotTree(tmp);
      const gone = Object.keys(planted).filter((k) => !(k in after));
      assert.deepEqual(gone, [], `dray removed nobody's entries: ${gone.join(", ")}`);
      assert.deepEqual(await snapshotTree(root), rootBefore, "root's files changed");
      const own = Object.keys(after).filter((k) => /^dray-0\/./.test(k));
      assert.deepEqual(own, [], `dray left temporaries of its own: ${own.join(", ")}`);
      return `3 × exit 0; all ${Object.keys(planted).length} of nobody's entries still there, root's folder unchanged, dray's own folder dray-0 empty`;
    },
  );

  caseIt(
    "local-user",
    "a folder swapped for a link to root's files while dray sweeps it",
    "nobody plants .dray-stdin-DEADPID-x/d/ (200 files) and swaps d with a link to root's folder in a loop; root runs dray copy oci-archive:- 5 times meanwhile",
    async () => {
      const { tmp, root } = await scene("swapper");
      for (let i = 0; i < 200; i++) await writeFile(join(root, "keep", `f${i}`), `${i}\n`);
      const rootBefore = await snapshotTree(root);
      const pid = deadPid();
      const victim = `${tmp}/.dray-stdin-${pid}-x`;
      // The swapper, in node (run as nobody): d is a folder full of files, then briefly a link to root's folder.
      const script = `
        const fs = require("node:fs");
        const v = ${JSON.stringify(victim)}, target = ${JSON.stringify(`${root}/keep`)};
        fs.mkdirSync(v, { recursive: true });
        fs.writeFileSync(v + "/marker", "made once, never again");
        const end = Date.now() + 30000;
        while (Date.now() < end) {
          try {
            fs.mkdirSync(v + "/d", { recursive: true });
            for (let i = 0; i < 200; i++) fs.writeFileSync(v + "/d/f" + i, "");
            fs.rmSync(v + "/l", { force: true });
            fs.symlinkSync(target, v + "/l");
            for (let i = 0; i < 2000; i++) {
              fs.renameSync(v + "/d", v + "/r"); fs.renameSync(v + "/l", v + "/d");
              fs.renameSync(v + "/d", v + "/l"); fs.renameSync(v + "/r", v + "/d");
            }
          } catch {}
        }`;
      const swapper = spawnAsNobody([process.execPath, "-e", script]);
      try {
        await waitFor(() => existsSync(`${victim}/d/f199`), 10_000, "the swapper");
        for (let i = 0; i < 5; i++) {
          const r = await run(["copy", "oci-archive:-", `oci:${join(work, "swapper", `out${i}`)}:v1`], {
            input: await readFile(archive),
            env: { TMPDIR: tmp },
          });
          assert.equal(r.code, 0, r.stderr);
        }
      } finally {
        swapper.kill("SIGKILL");
      }
      const rootAfter = await snapshotTree(root);
      const lost = Object.keys(rootBefore).filter((k) => !(k in rootAfter));
      assert.deepEqual(lost, [], `root's files deleted through the swapped link: ${lost.length} (${lost.slice(0, 5).join(", ")})`);
      assert.ok(existsSync(`${victim}/marker`), "nobody's folder was removed (its marker file is gone)");
      return `5 × exit 0; root's ${Object.keys(rootBefore).length} files intact; nobody's folder left alone (its marker file still there)`;
    },
  );

  caseIt(
    "local-user",
    "dray's per-user temporary folder made first by another user",
    "nobody creates TMPDIR/dray-0 (the name root's dray uses, mode 0777) before root runs dray copy oci-archive:- (which needs a temporary)",
    async () => {
      const { tmp } = await scene("squatter");
      asNobody(["sh", "-c", `mkdir ${tmp}/dray-0 && chmod 777 ${tmp}/dray-0`]);
      const r = await run(["copy", "oci-archive:-", `oci:${join(work, "squatter", "out")}:v1`], {
        input: await readFile(archive),
        env: { TMPDIR: tmp },
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /temporary folder .*dray-0 belongs to user 65534, not to you \(0\)/);
      assert.deepEqual(await readdir(join(tmp, "dray-0")), [], "dray wrote into nobody's folder");
      return `exit 1: "${lastLine(r.stderr)}"; nothing written into nobody's folder`;
    },
  );

  caseIt(
    "local-user",
    "TMPDIR names no folder",
    "TMPDIR=WORK/no-such-folder, then TMPDIR=a file; root runs dray copy oci-archive:- (which needs a temporary)",
    async () => {
      const lines: string[] = [];
      for (const [i, tmp] of [join(work, "no-such-folder"), archive].entries()) {
        const r = await run(["copy", "oci-archive:-", `oci:${join(work, `no-tmp-${i}`)}:v1`], {
          input: await readFile(archive),
          env: { TMPDIR: tmp },
        });
        assert.equal(r.code, 1, r.stderr);
        // The message names TMPDIR's value as the problem, not the dray-UID folder dray meant to make in it.
        assert.ok(r.stderr.includes(`${tmp} is not a folder (set TMPDIR to a folder of your own)`), r.stderr);
        lines.push(lastLine(r.stderr));
      }
      return `exit 1 twice: "${lines.join('" / "')}"`;
    },
  );

  caseIt(
    "local-user",
    "another user's link where root writes a docker-archive",
    "nobody plants TMPDIR/x.tar -> a root-owned 0600 file in a root-only folder; root runs dray copy oci:SRC docker-archive:TMPDIR/x.tar:img:v1",
    async () => {
      const { tmp, root } = await scene("archive-link");
      asNobody(["ln", "-s", `${root}/secret`, `${tmp}/x.tar`]);
      const r = await run(["copy", `oci:${srcLayout}:v1`, `docker-archive:${tmp}/x.tar:img:v1`]);
      assert.equal(await readFile(join(root, "secret"), "utf8"), "root's secret\n", `root's file was overwritten (exit ${r.code})`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /symbolic link of user 65534 .* protected_symlinks/);
      const left = (await readdir(tmp)).filter((n) => n !== "x.tar");
      assert.deepEqual(left, [], "temporaries left beside the link");
      return `exit 1: "${lastLine(r.stderr)}"; root's file unchanged`;
    },
  );

  caseIt(
    "local-user",
    "another user's link where root writes an OCI layout",
    "nobody plants TMPDIR/lay -> an empty folder in a root-only folder; root runs dray copy oci:SRC oci:TMPDIR/lay:v1",
    async () => {
      const { tmp, root } = await scene("layout-link");
      const before = await snapshotTree(root);
      asNobody(["ln", "-s", `${root}/empty`, `${tmp}/lay`]);
      const r = await run(["copy", `oci:${srcLayout}:v1`, `oci:${tmp}/lay:v1`]);
      assert.deepEqual(await snapshotTree(root), before, `root's folder was written into (exit ${r.code})`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /symbolic link of user 65534/);
      return `exit 1: "${lastLine(r.stderr)}"; root's folder unchanged`;
    },
  );

  caseIt(
    "local-user",
    "another user's link swapped in after the check, before an OCI layout is resolved",
    "the race's outcome, made certain: nobody's TMPDIR/lay -> a root-only folder appears after dray looked (nothing there) and before realpath; then it is swapped back for nobody's own folder. checkStillNamed (what OciLayout.prepare runs after realpath) must refuse both; root's own link passes",
    async () => {
      const { tmp, root } = await scene("layout-race");
      const lay = `${tmp}/lay`;
      const what = `cannot write OCI layout ${lay}`;
      asNobody(["ln", "-s", `${root}/empty`, lay]);
      const real = await realpath(lay);
      await assert.rejects(checkStillNamed(lay, real, what), /symbolic link of user 65534/);
      asNobody(["sh", "-c", `rm ${lay} && mkdir ${lay}`]);
      await assert.rejects(checkStillNamed(lay, real, what), /changed while dray opened it/);
      await symlink(`${root}/empty`, `${tmp}/own`);
      await checkStillNamed(`${tmp}/own`, await realpath(`${tmp}/own`), what);
      return "nobody's link found after realpath: refused; swapped back for a folder: refused (another inode); root's own link: followed";
    },
  );

  caseIt(
    "local-user",
    "root's own link in the sticky folder is still followed",
    "root plants TMPDIR/own.tar -> root's file; root runs dray copy oci:SRC docker-archive:TMPDIR/own.tar:img:v1 (the kernel allows this link too)",
    async () => {
      const { tmp, root } = await scene("own-link");
      await writeFile(join(root, "own.tar"), "");
      spawnSync("ln", ["-s", `${root}/own.tar`, `${tmp}/own.tar`]);
      const r = await run(["copy", `oci:${srcLayout}:v1`, `docker-archive:${tmp}/own.tar:img:v1`]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await readFile(join(root, "own.tar"))).length > 1024, "the link's target holds the archive");
      return "exit 0; the archive written through root's own link";
    },
  );
});

describe("SIGKILL during --compress", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let big: BuiltImage;

  before(async () => {
    reg = await startRegistry();
    proxy = await startProxy(reg);
    big = await buildImage({ seed: "local-users-big", layerSize: 2_000_000 });
    await pushImage(reg, "src/big", "v1", big);
  });

  caseIt(
    "local-user",
    "SIGKILL while a layer is recompressed: the next run removes the spool folder",
    "dray copy --compress zstd docker://REG/src/big:v1 oci:OUT with the layer GET held after half its bytes, then SIGKILL; then the same copy again",
    async () => {
      const { tmp } = await scene("recompress-kill");
      const layer = big.layers[0]!;
      proxy.addRule({
        method: "GET",
        path: layer.digest.toString(),
        times: 1,
        action: { kind: "stall", ms: 20_000, afterBytes: Math.floor(layer.size / 2) },
      });
      const out = join(work, "recompress-kill", "out");
      const args = ["copy", "--compress", "zstd", `docker://${proxy.host}/src/big:v1`, `oci:${out}:v1`];
      const running = start(args, { env: { TMPDIR: tmp } });
      await waitFor(() => proxy.log.some((e) => e.action === "stall"), 30_000, "the held layer GET");
      await new Promise((r) => setTimeout(r, 300));
      running.child.kill("SIGKILL");
      await running.wait();
      const spools = async (): Promise<string[]> => {
        const names: string[] = [];
        for (const [dir, sub] of [
          [tmp, ""],
          [join(tmp, "dray-0"), "dray-0/"],
        ] as const)
          if (existsSync(dir)) names.push(...(await readdir(dir)).filter((n) => /recompress/.test(n)).map((n) => sub + n));
        return names;
      };
      const left = await spools();
      assert.ok(left.length > 0, "the kill left no spool folder (the test did not hold the copy there)");
      const r = await run(args, { env: { TMPDIR: tmp } });
      assert.equal(r.code, 0, r.stderr);
      const after = await spools();
      assert.deepEqual(after, [], `left after the next run: ${after.join(", ")}`);
      return `killed with ${left.join(", ")} on disk; the next run exits 0 and removes it`;
    },
    { timeout: 90_000 },
  );
});

it("no run printed a secret", () => {
  assert.ok(assertNoSecretsPrinted() > 0);
});
