// The shipped CLI: bin/dray.cjs running the bundle (dist/dray.cjs) through
// src/cli/startup/launch.cts, with Node's compile cache (Node 22.1+; Node 20
// has none). The cache is used after the first run, never taken from a folder
// that others can write, and never written when turned off.
// The bundle does not load the modules it keeps lazy, nor undici's index.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { cacheFolder } from "../../../src/cli/startup/cache-folder.cjs";
import { buildImage, pushImage, writeOciLayout } from "../../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { makeTempDir } from "../../helpers/tmp.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../.." : "../../../..", import.meta.url));
const BIN = join(ROOT, "bin", "dray.cjs");
const BUNDLE = join(ROOT, "dist", "dray.cjs");

interface Run {
  /** The exit status; a process a signal ended says which. */
  code: number | string;
  stdout: string;
  stderr: string;
}

function runBin(args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Run {
  const r = spawnSync(process.execPath, [...nodeArgs, BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: env.HOME, NO_COLOR: "1", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? (r.signal ? `killed by ${r.signal}` : 1), stdout: r.stdout, stderr: r.stderr };
}

/** Node 22.1+ has its own compile cache, which the CLI uses; Node 20 runs without one. */
const NODE_COMPILE_CACHE =
  typeof (createRequire(import.meta.url)("node:module") as { enableCompileCache?: unknown }).enableCompileCache === "function";

/** Every file under `dir`: what either cache wrote. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

/** A preload that records, at exit, where Node's compile cache of the process was ("" when off or on Node 20). */
function compileCacheProbe(work: string, name: string): { nodeArgs: string[]; read: () => string } {
  const out = join(work, `probe-${name}.txt`);
  const preload = join(work, `probe-${name}.cjs`);
  const record = `require("node:fs").writeFileSync(${JSON.stringify(out)}, require("node:module").getCompileCacheDir?.() ?? "")`;
  writeFileSync(preload, `process.on("exit", () => ${record});\n`);
  return { nodeArgs: ["-r", preload], read: () => readFileSync(out, "utf8") };
}

describe("bin/dray.cjs and the compile cache", () => {
  let work: string;
  let layout: string;

  before(async () => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run build`);
    work = makeTempDir("dray-launch-");
    layout = join(work, "layout");
    await writeOciLayout(layout, await buildImage({ seed: "launch" }), "v1");
  });

  it(
    "Node 22.1+: runs the bundle with Node's compile cache in the folder, the same output from the cache",
    { skip: !NODE_COMPILE_CACHE },
    () => {
      const cache = join(work, "cache-node");
      const probe = compileCacheProbe(work, "on");
      const env = { HOME: work, DRAY_COMPILE_CACHE: cache };
      const first = runBin(["inspect", `oci:${layout}:v1`], env, probe.nodeArgs);
      assert.equal(first.code, 0, first.stderr);
      assert.ok(probe.read().startsWith(cache), `Node's compile cache was on, in the folder given: ${probe.read()}`);
      const written = filesUnder(cache);
      assert.ok(written.length > 0, "Node wrote its cache");
      const second = runBin(["inspect", `oci:${layout}:v1`], env);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(second.stdout, first.stdout);
    },
  );

  it("writes nothing when DRAY_COMPILE_CACHE=0", () => {
    const tmp = join(work, "tmp-off");
    mkdirSync(tmp);
    const probe = compileCacheProbe(work, "off");
    const r = runBin(["inspect", `oci:${layout}:v1`], { HOME: work, TMPDIR: tmp, DRAY_COMPILE_CACHE: "0" }, probe.nodeArgs);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(tmp), []);
    assert.equal(probe.read(), "", "Node's compile cache stayed off");
  });

  it(
    "Node 22.1+: uses a per-user folder under TMPDIR by default, and refuses one that others can write",
    { skip: !NODE_COMPILE_CACHE },
    () => {
      const tmp = join(work, "tmp-default");
      mkdirSync(tmp);
      assert.equal(runBin(["ls", `oci:${layout}`], { HOME: work, TMPDIR: tmp }).code, 0);
      const uid = process.getuid?.() ?? "user";
      const folder = join(tmp, `dray-compile-cache-${uid}`);
      assert.ok(filesUnder(folder).length >= 1, "a cache in the per-user folder");

      const missing = join(work, "no-such-tmp");
      const noTmp = runBin(["ls", `oci:${layout}`], { HOME: work, TMPDIR: missing });
      assert.equal(noTmp.code, 0, noTmp.stderr);
      assert.equal(existsSync(missing), false, "a missing TMPDIR is not created");

      const shared = join(work, "shared");
      mkdirSync(shared);
      chmodSync(shared, 0o777);
      assert.equal(cacheFolder({ DRAY_COMPILE_CACHE: shared }), undefined);
      const r = runBin(["ls", `oci:${layout}`], { HOME: work, DRAY_COMPILE_CACHE: shared });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(filesUnder(shared), [], "nothing written into a folder others can write");
    },
  );

  it("an unbuilt clone (linked onto the PATH before `npm run build`) says so in one line", () => {
    const clone = join(work, "unbuilt");
    mkdirSync(join(clone, "bin"), { recursive: true });
    writeFileSync(join(clone, "bin", "dray.cjs"), readFileSync(BIN));
    writeFileSync(join(clone, "package.json"), readFileSync(join(ROOT, "package.json")));
    const r = spawnSync(process.execPath, [join(clone, "bin", "dray.cjs"), "--version"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      `dray: ${clone} is not built: run \`npm ci && npm run build\` there, or install a packed copy (README: Install)\n`,
    );
  });

  it("answers --version from package.json", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const r = runBin(["--version"], { HOME: work });
    assert.equal(r.stdout, `${pkg.version}\n`);
    assert.match(runBin(["--help"], { HOME: work, DRAY_COMPILE_CACHE: "0" }).stdout, /Usage: dray/);
  });
});

/**
 * A preload that sends `signal` to the process itself when a module whose path ends with `suffix` is
 * required: a signal that lands at a known point of the start-up, before main's handlers are on.
 */
function signalWhenLoading(work: string, suffix: string, signal: "SIGINT" | "SIGTERM"): string[] {
  const preload = join(work, `signal-${signal}-${suffix.replace(/\W/g, "_")}.cjs`);
  writeFileSync(
    preload,
    `const Module = require("node:module");
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request.endsWith(${JSON.stringify(suffix)})) {
    Module._load = load;
    process.kill(process.pid, ${JSON.stringify(signal)});
  }
  return load.call(this, request, ...rest);
};
`,
  );
  return ["-r", preload];
}

describe("a signal while the CLI still loads (before main's handlers are on)", () => {
  let work: string;
  let layout: string;

  before(async () => {
    work = makeTempDir("dray-early-signal-");
    layout = join(work, "layout");
    await writeOciLayout(layout, await buildImage({ seed: "early-signal" }), "v1");
  });

  // Each used to end dray by the signal's default action: no line, no exit status of its own.
  const cases = [
    { what: "SIGINT while the bundle loads", suffix: "/dist/dray.cjs", signal: "SIGINT", env: {}, line: "dray: interrupted", code: 130 },
    {
      what: "SIGTERM while the bundle loads",
      suffix: "/dist/dray.cjs",
      signal: "SIGTERM",
      env: {},
      line: "dray: interrupted (SIGTERM)",
      code: 143,
    },
    {
      what: "SIGINT while launch.cjs loads, bundle off (main's modules are imported asynchronously: the early handler answers)",
      suffix: "launch.cjs",
      signal: "SIGINT",
      env: { DRAY_STARTUP_OFF: "bundle" },
      line: "dray: interrupted",
      code: 130,
    },
  ] as const;
  it("main takes over: once it runs, the shim's early listener is gone (a later signal gets main's clean-up)", () => {
    const out = join(work, "listeners.txt");
    const preload = join(work, "listeners.cjs");
    const count = `["SIGINT", "SIGTERM", "SIGHUP"].map((s) => process.listenerCount(s)).join(",")`;
    writeFileSync(preload, `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(out)}, ${count}));\n`);
    const r = runBin(["inspect", `oci:${layout}:v1`], { HOME: work }, ["-r", preload]);
    assert.equal(r.code, 0, r.stderr);
    // main removes its own at the end; an early listener left behind (shim and stop-signals.cts disagreeing
    // on the symbol) would be counted here, and would have ended an interrupted copy before its clean-up.
    assert.equal(readFileSync(out, "utf8"), "0,0,0");
  });

  for (const c of cases) {
    it(`${c.what}: one line, exit ${c.code}, nothing written`, () => {
      const dst = join(work, `dst-${c.signal}-${c.suffix.replace(/\W/g, "_")}`);
      const r = runBin(
        ["copy", `oci:${layout}:v1`, `oci:${dst}:v1`],
        { HOME: work, ...c.env },
        signalWhenLoading(work, c.suffix, c.signal),
      );
      assert.equal(r.stderr, `${c.line}\n`);
      assert.equal(r.code, c.code);
      assert.equal(existsSync(dst), false, "the copy did not start");
    });
  }
});

describe("a signal while the single executable's script still loads", () => {
  // The executable runs dist/sea/dray.cjs (scripts/build-exe.mjs); plain node runs the same script, so a
  // preload can send the signal at a known point: main's first require (node:fs), before its handlers are on.
  const SEA = join(ROOT, "dist", "sea", "dray.cjs");
  let work: string;
  let layout: string;

  before(async () => {
    // Bundled now, as scripts/build-exe.mjs bundles it: a stale script from an earlier build would test old code.
    spawnSync(process.execPath, [join(ROOT, "scripts", "bundle.mjs"), "--sea"], { stdio: "ignore" });
    work = makeTempDir("dray-sea-signal-");
    layout = join(work, "layout");
    await writeOciLayout(layout, await buildImage({ seed: "sea-signal" }), "v1");
  });

  for (const [signal, line, code] of [
    ["SIGINT", "dray: interrupted", 130],
    ["SIGTERM", "dray: interrupted (SIGTERM)", 143],
  ] as const) {
    // Was: killed by the signal's default action, no line (the executable had no early listener).
    it(`${signal} while main's modules load: one line, exit ${code}, nothing written`, () => {
      const dst = join(work, `dst-${signal}`);
      const r = spawnSync(
        process.execPath,
        [...signalWhenLoading(work, "node:fs", signal), SEA, "copy", `oci:${layout}:v1`, `oci:${dst}:v1`],
        {
          env: { PATH: process.env.PATH, HOME: work, NO_COLOR: "1" },
          encoding: "utf8",
          timeout: 60_000,
        },
      );
      assert.equal(r.signal, null, `ended by ${r.signal ?? ""}`);
      assert.equal(r.stderr, `${line}\n`);
      assert.equal(r.status, code);
      assert.equal(existsSync(dst), false, "the copy did not start");
    });
  }
});

describe("the bundle keeps rarely used built-ins unloaded", () => {
  let registry: RegistryHandle;
  let work: string;

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    work = makeTempDir("dray-launch-mods-");
    await pushImage(registry, "launch/app", "v1", await buildImage({ seed: "launch-mods" }));
  });
  after(async () => registry?.stop());

  it("inspects a registry image without http2, child_process, perf_hooks, zlib, fs/promises or undici's index", () => {
    const listFile = join(work, "modules.txt");
    const filesFile = join(work, "files.txt");
    const preload = join(work, "record-modules.cjs");
    const write = (file: string, list: string): string => `require("node:fs").writeFileSync(${JSON.stringify(file)}, ${list}.join("\\n"))`;
    writeFileSync(
      preload,
      `process.on("exit", () => { ${write(listFile, "process.moduleLoadList")}; ${write(filesFile, "Object.keys(require.cache)")}; });\n`,
    );
    const r = runBin(["inspect", `docker://${registry.host}/launch/app:v1`], { HOME: work, DRAY_COMPILE_CACHE: "0" }, ["-r", preload]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { Architecture?: string }).Architecture, "amd64");
    const loaded = readFileSync(listFile, "utf8")
      .split("\n")
      .map((l) => l.replace(/^NativeModule /, ""));
    assert.ok(loaded.includes("net"), "the list is real: net was loaded for the request");
    for (const lazy of ["http2", "child_process", "perf_hooks", "zlib", "fs/promises"])
      assert.ok(!loaded.includes(lazy), `${lazy} was loaded`);
    // undici's dispatcher is in the bundle (src/cli/startup/undici.cts); its index (fetch, WebSocket, ...) stays unloaded.
    const files = readFileSync(filesFile, "utf8").split("\n");
    assert.ok(
      files.some((f) => f.endsWith(join("startup", "launch.cjs"))),
      "the list is real: the launcher is in it",
    );
    assert.ok(!files.some((f) => f.includes(join("node_modules", "undici"))), `undici loaded from node_modules: ${files.join(", ")}`);
  });
});
