// dray export against umoci, the independent peer: umoci builds a layered
// image (insert, insert --whiteout, insert --opaque, a hard link whose file a
// later layer replaces, symlinks, modes), skopeo puts it in the registry and
// in both archive forms, and the tree dray's tar extracts to must equal
// `umoci unpack --rootless`, file by file and link by link.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, link, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { drayOk } from "../cli/run.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeoCopy } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";

const run = promisify(execFile);

async function umoci(args: string[], cwd: string): Promise<void> {
  await run("umoci", args, { cwd });
}

interface Node {
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  sha256?: string;
  target?: string;
  /** Every name sharing this file's inode (hard links), sorted. */
  links?: string[];
}

/** What a person compares: each path's type, mode, owner, content, link target, mtime (non-directories), and hard-link groups. */
async function snapshot(root: string): Promise<Record<string, Node>> {
  const out: Record<string, Node> = {};
  const inodes = new Map<number, string[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
      const node: Node = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      // A directory's mtime changes as its children are written; tar and umoci restore it differently.
      if (type !== "dir") node.mtime = Math.floor(st.mtimeMs / 1000);
      if (type === "file")
        node.sha256 = createHash("sha256")
          .update(await readFile(join(root, path)))
          .digest("hex");
      if (type === "symlink") node.target = await readlink(join(root, path));
      if (type === "file" && st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      out[path] = node;
      if (type === "dir") await walk(path);
    }
  };
  await walk("");
  for (const names of inodes.values()) for (const n of names) out[n]!.links = [...names].sort();
  return out;
}

/** The files of one `umoci insert`, with fixed times so both sides agree to the second. */
async function makeFiles(
  dir: string,
  files: Record<string, string | { symlink: string } | { mode: number; content: string }>,
): Promise<void> {
  const when = new Date("2024-05-01T12:00:00Z");
  for (const [rel, spec] of Object.entries(files)) {
    const path = join(dir, rel);
    await mkdir(join(path, ".."), { recursive: true });
    if (typeof spec === "string") await writeFile(path, spec);
    else if ("symlink" in spec) await symlink(spec.symlink, path);
    else {
      await writeFile(path, spec.content);
      await chmod(path, spec.mode);
    }
    if (!(typeof spec === "object" && "symlink" in spec)) await utimes(path, when, when);
  }
}

describe("dray export against umoci unpack (registry, layout, oci-archive, docker-archive)", () => {
  let reg: RegistryHandle;
  let dir: string;
  let expected: Record<string, Node>;
  const layout = (): string => `oci:${join(dir, "L")}:t`;

  before(async () => {
    reg = await startRegistry();
    dir = makeTempDir();
    await umoci(["init", "--layout", "L"], dir);
    await umoci(["new", "--image", "L:t"], dir);
    // Layer 1: a tree with a hard link, symlinks (one absolute, one out of the root), modes, an empty directory.
    await makeFiles(join(dir, "one"), {
      "etc/hello": "hello\n",
      "etc/keep": "keep\n",
      "etc/shadow": { mode: 0o000, content: "root:*:\n" },
      "d/a": "a\n",
      "d/sub/b": "b\n",
      "bin/tool": { mode: 0o755, content: "tool v1\n" },
      "bin/hl": { symlink: "../etc/hello" },
      "bin/abs": { symlink: "/etc/keep" },
      "bin/out": { symlink: "../../../../outside" },
      "opt/private/x": { mode: 0o600, content: "x\n" },
    });
    await link(join(dir, "one/bin/tool"), join(dir, "one/bin/tool2"));
    await mkdir(join(dir, "one/empty"));
    await chmod(join(dir, "one/opt/private"), 0o700);
    await umoci(["insert", "--rootless", "--image", "L:t", "one", "/"], dir);
    // Layer 2: a whiteout of a file; layer 3: an opaque directory; layer 4: the hard link's file replaced.
    await umoci(["insert", "--rootless", "--image", "L:t", "--whiteout", "/etc/hello"], dir);
    await makeFiles(join(dir, "two"), { n: "new\n" });
    await umoci(["insert", "--rootless", "--image", "L:t", "--opaque", "two", "/d"], dir);
    await makeFiles(join(dir, "three"), { tool: { mode: 0o755, content: "tool v2\n" } });
    await umoci(["insert", "--rootless", "--image", "L:t", "three/tool", "/bin/tool"], dir);
    // Layer 5: a directory whited out, and a file where a directory was.
    await umoci(["insert", "--rootless", "--image", "L:t", "--whiteout", "/opt/private"], dir);
    await makeFiles(join(dir, "four"), { x: "now a file\n" });
    await umoci(["insert", "--rootless", "--image", "L:t", "four/x", "/empty"], dir);
    await umoci(["unpack", "--rootless", "--image", "L:t", "bundle"], dir);
    expected = await snapshot(join(dir, "bundle", "rootfs"));
    assertSkopeoOk(await skopeoCopy(layout(), `docker://${reg.host}/umoci:t`));
    assertSkopeoOk(await skopeoCopy(layout(), `oci-archive:${join(dir, "oci.tar")}`));
    assertSkopeoOk(await skopeoCopy(layout(), `docker-archive:${join(dir, "docker.tar")}:umoci:t`));
  });

  it("umoci's unpack has what the layers say (the peer itself did what the test assumes)", () => {
    assert.equal(expected["etc/hello"], undefined, "whited out");
    assert.deepEqual(
      Object.keys(expected).filter((k) => k.startsWith("d/")),
      ["d/n"],
      "opaque",
    );
    assert.equal(expected["opt/private"], undefined);
    assert.equal(expected["empty"]?.type, "file");
    assert.equal(expected["bin/tool2"]?.links, undefined, "tool2 keeps the old content on its own");
    assert.equal(expected["etc/shadow"]?.mode, 0);
  });

  for (const [name, loc] of [
    ["registry", (): string => `docker://${reg.host}/umoci:t`],
    ["layout", layout],
    ["oci-archive", (): string => `oci-archive:${join(dir, "oci.tar")}`],
    ["docker-archive", (): string => `docker-archive:${join(dir, "docker.tar")}`],
  ] as const) {
    it(`from ${name}: the extracted export equals umoci's rootfs`, async () => {
      const out = join(dir, `${name}.tar`);
      const r = await drayOk(["export", loc(), "-o", out]);
      assert.equal(r.stdout, "");
      const x = join(dir, `x-${name}`);
      await mkdir(x);
      await run("tar", ["-xpf", out, "-C", x, "--numeric-owner"]);
      const got = await snapshot(x);
      assert.deepEqual(got, expected);
      const listing = (await run("tar", ["-tf", out])).stdout;
      assert.doesNotMatch(listing, /\.wh\./, "no whiteout in the tar");
    });
  }

  it("export -o - streams the same tar to a pipe", async () => {
    const r = await drayOk(["export", layout(), "-o", "-"]);
    const file = await readFile(join(dir, "layout.tar"));
    assert.ok(r.stdoutBytes.equals(file));
  });
});
