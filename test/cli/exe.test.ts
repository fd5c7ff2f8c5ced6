// The single executable (npm run build:exe: dist/dray-linux-x64) as a user
// without Node runs it: copied to a folder outside the repository, run with a
// PATH that has no node, against the real registry, layouts and archives; its
// output equals the npm CLI's. The keychain module is not in it, and it says so.
// .ci/run builds it and also runs test/cli/'s main suites against it
// (DRAY_EXE, test/cli/run.ts); elsewhere these tests run when it is built.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../.." : "../../..", import.meta.url));
const BUILT = process.env.DRAY_EXE ? resolve(process.env.DRAY_EXE) : join(ROOT, "dist", "dray-linux-x64");
// Under CI (and when named) a missing executable fails the run; a developer's `npm test` runs these once it is built.
const required = process.env.CI === "true" || process.env.DRAY_EXE !== undefined;
const skip = !required && !existsSync(BUILT) ? "dist/dray-linux-x64 is not built (npm run build:exe)" : false;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("the single executable, outside the repository, with no node on PATH", { skip }, () => {
  let work: string;
  let exe: string;
  let env: NodeJS.ProcessEnv;
  let registry: RegistryHandle;

  const run = (args: string[], extra: NodeJS.ProcessEnv = {}, input = ""): Run => {
    const r = spawnSync(exe, args, { cwd: work, env: { ...env, ...extra }, input, encoding: "utf8", timeout: 60_000 });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
  /** The npm CLI (bin/dray.cjs on this Node), for the same output. */
  const npmCli = (args: string[]): Run => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin", "dray.cjs"), ...args], { cwd: work, env, encoding: "utf8", timeout: 60_000 });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    assert.ok(existsSync(BUILT), `${BUILT} is missing: run npm run build:exe`);
    requireTool("docker-registry");
    work = makeTempDir("dray-exe-");
    const bin = join(work, "bin");
    mkdirSync(bin);
    exe = join(bin, "dray");
    copyFileSync(BUILT, exe);
    statSync(exe);
    // Nothing on PATH but an empty folder: no node, no npm, nothing of the repository.
    const empty = join(work, "empty");
    mkdirSync(empty);
    env = { PATH: empty, HOME: join(work, "home"), TMPDIR: work, NO_COLOR: "1", DOCKER_CONFIG: join(work, "docker") };
    registry = await startRegistry();
    await pushImage(registry, "exe/app", "v1", await buildImage({ seed: "exe", layerCount: 3 }));
  });
  after(async () => registry?.stop());

  it("is a file of its own and answers --version and --help", () => {
    assert.ok(lstatSync(exe).isFile() && !lstatSync(exe).isSymbolicLink());
    assert.notEqual(spawnSync("/bin/sh", ["-c", "command -v node"], { env }).status, 0, "no node on this PATH");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    assert.deepEqual(run(["--version"]), { code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    const help = run(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: dray /);
  });

  it("copies the example layout into a docker archive and inspects it as the npm CLI does", () => {
    const tar = join(work, "hello.tar");
    const copy = run(["copy", "-q", `oci:${join(ROOT, "examples", "hello")}:latest`, `docker-archive:${tar}:hello:latest`]);
    assert.equal(copy.code, 0, copy.stderr);
    const inspect = run(["inspect", `docker-archive:${tar}`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(inspect.stdout, npmCli(["inspect", `docker-archive:${tar}`]).stdout);
  });

  it("inspects and copies from the registry into a layout, the same digest as the npm CLI", () => {
    const src = `docker://${registry.host}/exe/app:v1`;
    const inspect = run(["inspect", "--format", "json", src]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(inspect.stdout, npmCli(["inspect", "--format", "json", src]).stdout);
    const layout = join(work, "layout");
    const copy = run(["copy", "-q", src, `oci:${layout}:v1`]);
    assert.equal(copy.code, 0, copy.stderr);
    const digest = run(["digest", `oci:${layout}:v1`]);
    assert.equal(digest.code, 0, digest.stderr);
    assert.equal(digest.stdout, npmCli(["digest", src]).stdout);
    assert.equal(run(["ls", `docker://${registry.host}/exe/app`]).stdout, "v1\n");
  });

  it("runs the same with its start-up tricks off (DRAY_STARTUP_OFF=all)", () => {
    const src = `docker://${registry.host}/exe/app:v1`;
    const on = run(["inspect", "--raw", src]);
    const off = run(["inspect", "--raw", src], { DRAY_STARTUP_OFF: "all" });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, on.stdout);
  });

  it("login --keychain: says in one line that the executable has no keychain module (exit 1) and stores nothing", async () => {
    // A registry that asks for credentials: an open one is answered "asks no credentials" before any keychain.
    const locked = await startRegistry({ mode: "htpasswd" });
    try {
      const r = run(["login", "--keychain", locked.host, "-u", locked.username!, "--password-stdin"], {}, locked.password!);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^dray: .*keychain.*single executable carries no keychain module/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.ok(!existsSync(join(work, "docker", "config.json")), "nothing stored");
    } finally {
      await locked.stop();
    }
  });
});
