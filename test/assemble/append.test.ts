// `dray append`: layers from folders and tars onto images anywhere or onto
// scratch. umoci unpacks the result to exactly the expected tree, podman
// loads it, skopeo reads every platform's config, the real registry takes it,
// and two runs in different folders, with other file times and another
// umask, give one digest.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, link, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { buildImage, buildIndex, pushImage, seededBytes, tarFiles } from "../helpers/fixtures.js";
import { startPodman, type Podman } from "../helpers/podman.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "../cli/run.js";
import { gzipSync } from "node:zlib";

const run = promisify(execFile);
const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** Each path's type, mode, content hash, link target and (files) mtime; hard links grouped. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[path] = `dir ${mode}`;
        await walk(path);
      } else if (st.isSymbolicLink()) out[path] = `symlink -> ${await readlink(join(root, path))}`;
      else {
        out[path] = `file ${mode} ${sha256(await readFile(join(root, path))).slice(0, 12)} ${Math.floor(st.mtimeMs / 1000)}`;
        if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      }
    }
  };
  await walk("");
  for (const names of inodes.values()) for (const n of names) out[n] += ` links ${names.join(",")}`;
  return out;
}

/** The same tree each time; times and umask as given. */
async function makeTree(dir: string, when: Date, umask: number): Promise<void> {
  const old = process.umask(umask);
  try {
    await mkdir(join(dir, "srv", "bin"), { recursive: true });
    await writeFile(join(dir, "srv", "app.conf"), "port = 80\n");
    await writeFile(join(dir, "srv", "bin", "app"), "#!/bin/sh\necho app\n");
    await chmod(join(dir, "srv", "bin", "app"), 0o775 & ~umask);
    await symlink("bin/app", join(dir, "srv", "run"));
    await link(join(dir, "srv", "app.conf"), join(dir, "srv", "app.conf.bak"));
    for (const p of ["srv/app.conf", "srv/bin/app", "srv/bin", "srv"]) await utimes(join(dir, p), when, when);
  } finally {
    process.umask(old);
  }
}

describe("dray append", () => {
  let registry: RegistryHandle;
  let podman: Podman;
  let dir: string;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    requireTool("umoci");
    registry = await startRegistry();
    podman = startPodman();
    dir = makeTempDir("dray-append-");
  });

  after(async () => {
    await podman?.remove();
    await registry?.stop();
  });

  it("two runs in different folders, with other file times and umask, give one digest", async () => {
    const digests: string[] = [];
    for (const [i, when, umask] of [
      [1, new Date("2020-01-01T00:00:00Z"), 0o022],
      [2, new Date("2025-06-30T12:34:56Z"), 0o002],
    ] as const) {
      const work = join(dir, `run${i}`, "deep".repeat(i));
      await makeTree(join(work, "tree"), when, umask);
      for (const env of [{}, { SOURCE_DATE_EPOCH: "1700000000" }]) {
        const r = await drayOk(
          [
            "append",
            "scratch",
            "--platform",
            "linux/amd64",
            "--layer",
            "tree",
            "-t",
            `oci:${join(work, "out")}:${Object.keys(env).length}`,
          ],
          {
            cwd: work,
            env,
          },
        );
        digests.push(r.stdout.trim());
      }
    }
    assert.equal(digests[0], digests[2], "without SOURCE_DATE_EPOCH");
    assert.equal(digests[1], digests[3], "with SOURCE_DATE_EPOCH");
    assert.notEqual(digests[0], digests[1], "SOURCE_DATE_EPOCH changes the times in the layer and the config");
  });

  it("onto a registry image: umoci unpacks the base's files plus the folder's and the tar's, exactly; podman loads it", async () => {
    const base = await buildImage({
      seed: "append-base",
      layerFiles: [
        [
          { path: "etc/", type: "directory" },
          { path: "etc/base.txt", content: "base\n" },
        ],
      ],
    });
    await pushImage({ url: registry.url }, "base/img", "1", base);
    const tree = join(dir, "umoci-tree");
    await makeTree(tree, new Date("2021-01-01T00:00:00Z"), 0o022);
    // A gzip tar given as it is: its bytes become the layer (gzip is the default compression).
    const tgz = gzipSync(await tarFiles([{ path: "etc/extra.txt", content: "extra\n" }]));
    await writeFile(join(dir, "extra.tar.gz"), tgz);
    const out = join(dir, "umoci-layout");
    const r = await drayOk(
      [
        "append",
        `docker://${registry.host}/base/img:1`,
        "--layer",
        tree,
        "--layer",
        join(dir, "extra.tar.gz"),
        "-t",
        `oci:${out}:app`,
        "--format",
        "json",
      ],
      { env: { SOURCE_DATE_EPOCH: "1600000000" } },
    );
    const result = JSON.parse(r.stdout) as { Layers: Array<{ Digest: string; DiffId: string; From: string }>; Digest: string };
    assert.equal(result.Layers[1]!.Digest, `sha256:${sha256(tgz)}`, "a gzip tar is kept byte for byte");
    assert.deepEqual(
      result.Layers.map((l) => l.From),
      ["folder", "gzip"],
    );
    // The gzip header names no host OS (zlib would write 3 on Linux, 19 on macOS): the digest is the same everywhere.
    const folderLayer = await readFile(join(out, "blobs", "sha256", result.Layers[0]!.Digest.slice("sha256:".length)));
    assert.equal(folderLayer[9], 0xff);
    await run("umoci", ["unpack", "--rootless", "--image", `${out}:app`, join(dir, "bundle")]);
    const t = 1600000000;
    assert.deepEqual(await snapshot(join(dir, "bundle", "rootfs")), {
      etc: "dir 755",
      "etc/base.txt": `file 644 ${sha256("base\n").slice(0, 12)} ${Math.floor(new Date("2024-01-01T00:00:00Z").getTime() / 1000)}`,
      "etc/extra.txt": `file 644 ${sha256("extra\n").slice(0, 12)} ${Math.floor(new Date("2024-01-01T00:00:00Z").getTime() / 1000)}`,
      srv: "dir 755",
      "srv/app.conf": `file 644 ${sha256("port = 80\n").slice(0, 12)} ${t} links srv/app.conf,srv/app.conf.bak`,
      "srv/app.conf.bak": `file 644 ${sha256("port = 80\n").slice(0, 12)} ${t} links srv/app.conf,srv/app.conf.bak`,
      "srv/bin": "dir 755",
      "srv/bin/app": `file 755 ${sha256("#!/bin/sh\necho app\n").slice(0, 12)} ${t}`,
      "srv/run": "symlink -> bin/app",
    });
    // The config: diff_ids and history grew by two, created is SOURCE_DATE_EPOCH.
    const config = JSON.parse((await drayOk(["inspect", "--config", `oci:${out}:app`])).stdout) as {
      created: string;
      rootfs: { diff_ids: string[] };
      history: Array<{ created?: string; created_by: string }>;
    };
    assert.deepEqual(
      config.rootfs.diff_ids.slice(1),
      result.Layers.map((l) => l.DiffId),
    );
    assert.equal(config.created, "2020-09-13T12:26:40Z");
    assert.deepEqual(
      config.history.slice(1).map((h) => h.created_by),
      ["dray append umoci-tree", "dray append extra.tar.gz"],
    );
    await drayOk(["copy", "-q", `oci:${out}:app`, `oci-archive:${join(dir, "app.tar")}:app`]);
    await podman.run(["load", "-q", "-i", join(dir, "app.tar")]);
    const images = JSON.parse(await podman.run(["images", "--format", "json"])) as Array<{ Id: string }>;
    const seen = await podman.inspect(images[0]!.Id);
    assert.deepEqual(
      (seen as unknown as { RootFS: { Layers: string[] } }).RootFS.Layers.slice(1),
      result.Layers.map((l) => l.DiffId),
    );
  });

  it("onto an index: every platform (or --platform's) gets the layer; zstd; pushed to the registry", async () => {
    const built = await buildIndex({ platforms: ["linux/amd64", "linux/arm64/v8"], seed: "append-index" });
    await pushImage({ url: registry.url }, "base/multi", "1", built);
    const tree = join(dir, "index-tree");
    await makeTree(tree, new Date(), 0o022);
    const dst = `docker://${registry.host}/app/multi:1`;
    const r = await drayOk([
      "append",
      `docker://${registry.host}/base/multi:1`,
      "--layer",
      tree,
      "--compress",
      "zstd",
      "-t",
      dst,
      "--format",
      "json",
    ]);
    const result = JSON.parse(r.stdout) as {
      Layers: Array<{ Digest: string; DiffId: string; MediaType: string }>;
      Manifests: Array<{ Platform: string }>;
    };
    assert.equal(result.Layers[0]!.MediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    assert.deepEqual(
      result.Manifests.map((m) => m.Platform),
      ["linux/amd64", "linux/arm64/v8", "index"],
    );
    for (const arch of ["amd64", "arm64"]) {
      const c = await skopeo(["--override-arch", arch, "inspect", "--config", "--tls-verify=false", dst]);
      assert.equal(c.code, 0, c.stderr);
      const config = JSON.parse(c.stdout) as { rootfs: { diff_ids: string[] }; architecture: string };
      assert.equal(config.architecture, arch);
      assert.equal(config.rootfs.diff_ids.at(-1), result.Layers[0]!.DiffId);
      assert.equal(config.rootfs.diff_ids.length, 2);
    }
    const narrowed = await drayOk([
      "append",
      `docker://${registry.host}/base/multi:1`,
      "--layer",
      tree,
      "--platform",
      "linux/arm64",
      "-t",
      `oci:${join(dir, "narrow")}:1`,
    ]);
    const index = JSON.parse((await skopeoInspectRaw(`oci:${join(dir, "narrow")}:1`)).toString()) as {
      manifests: Array<{ digest: string }>;
    };
    assert.equal(index.manifests[0]!.digest, built.images[0]!.manifest.digest.toString(), "amd64 untouched");
    assert.notEqual(index.manifests[1]!.digest, built.images[1]!.manifest.digest.toString());
    assert.match(narrowed.stderr, /linux\/arm64\/v8 +sha256:\w+ -> sha256:/);
    // A docker-archive holds one platform: the digest printed is the image it holds, as `dray digest` reads it back.
    const archive = `docker-archive:${join(dir, "one.tar")}:app:1`;
    const one = await drayOk([
      "append",
      "-q",
      `docker://${registry.host}/base/multi:1`,
      "--layer",
      tree,
      "--platform",
      "linux/arm64",
      "-t",
      archive,
    ]);
    assert.equal(one.stdout, (await drayOk(["digest", archive])).stdout);
  });

  it("refuses before writing: scratch without one platform, no layer, a missing path, a file that is no tar, a gzip of no tar", async () => {
    await writeFile(join(dir, "notes.txt"), "not a tar");
    await writeFile(join(dir, "notes.txt.gz"), gzipSync("not a tar\n"));
    const dst = `oci:${join(dir, "refused")}:1`;
    for (const [args, code] of [
      [["append", "scratch", "--layer", join(dir, "index-tree"), "-t", dst], 2],
      [["append", "scratch", "--platform", "linux/amd64", "-t", dst], 2],
      [["append", "scratch", "--platform", "linux/amd64", "--layer", join(dir, "nope"), "-t", dst], 2],
      [["append", "scratch", "--platform", "linux/amd64", "--layer", join(dir, "notes.txt"), "-t", dst], 2],
      [["append", "scratch", "--platform", "linux/amd64", "--layer", join(dir, "notes.txt")], 2],
      [["append", "scratch", "--platform", "linux/amd64", "--layer", join(dir, "notes.txt.gz"), "-t", dst], 2],
    ] as const) {
      const r = await dray([...args]);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^dray: /);
    }
    await assert.rejects(lstat(join(dir, "refused")));
  });

  it("a file the user may not read (run as nobody): exit 1, one sentence naming it, nothing at the destination", async () => {
    const nobody = { uid: 65534, gid: 65534 };
    const room = join(dir, "perm");
    await mkdir(join(room, "tree"), { recursive: true });
    await chmod(dir, 0o711);
    await chmod(room, 0o777);
    await writeFile(join(room, "tree", "ok"), "fine\n");
    await writeFile(join(room, "tree", "secret"), "root only\n", { mode: 0o600 });
    await writeFile(join(room, "secret.tar"), await tarFiles([{ path: "a", content: "x" }]), { mode: 0o600 });
    for (const layer of [join(room, "tree"), join(room, "secret.tar")]) {
      const dst = join(room, "out");
      const r = await dray(["append", "scratch", "--platform", "linux/amd64", "--layer", layer, "-t", `oci:${dst}:1`], { user: nobody });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^dray: --layer .*: permission denied reading .*secret/);
      assert.doesNotMatch(r.stderr, /EACCES/);
      await assert.rejects(lstat(dst));
    }
  });

  it("SIGINT while a folder is packed: exit 130, no spool left in the temporary folder, nothing at the destination", async () => {
    const tree = join(dir, "big-tree");
    await mkdir(tree, { recursive: true });
    // Incompressible, so gzip takes a while: several seconds on a busy 2-core machine.
    for (let i = 0; i < 6; i++) await writeFile(join(tree, `blob-${i}`), seededBytes(`sigint-${i}`, 16 * 1024 * 1024));
    const tmp = makeTempDir("dray-append-tmp-");
    const dst = join(dir, "interrupted");
    const entry = fileURLToPath(
      new URL(import.meta.url.endsWith(".ts") ? "../cli/dray-entry.ts" : "../cli/dray-entry.js", import.meta.url),
    );
    const nodeArgs = import.meta.url.endsWith(".ts") ? ["--import", "tsx", entry] : [entry];
    const child = spawn(
      process.execPath,
      [...nodeArgs, "append", "scratch", "--platform", "linux/amd64", "--layer", tree, "-t", `oci:${dst}:1`],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, TMPDIR: tmp, NO_COLOR: "1" },
      },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const done = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
    // Wait until the layer is being spooled, then interrupt.
    for (let i = 0; i < 400; i++) {
      const spools = (await readdir(tmp)).filter((n) => n.startsWith("dray-append-"));
      const layer = spools.length > 0 ? await lstat(join(tmp, spools[0]!, "layer-0")).catch(() => undefined) : undefined;
      if (layer && layer.size > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGINT");
    assert.equal(await done, 130, stderr);
    assert.match(stderr, /dray: interrupted/);
    assert.deepEqual(
      (await readdir(tmp)).filter((n) => n.startsWith("dray-append-")),
      [],
      "the spool folder is removed",
    );
    await assert.rejects(lstat(dst), "no layout was created");
  });
});
