// The README's examples, run from the README itself so they cannot drift from
// the tool (issue 28): every `dray …` line of its ```sh blocks runs in bash, with
// the remote names it uses mapped onto a real registry on loopback and local
// folders; a line that cannot run here is listed in NOT_RUN with the reason, and
// a new example that is neither run nor listed fails the test.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { buildImage, buildIndex, pushImage, writeOciLayout } from "./helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "./helpers/registry.js";
import { makeTempDir } from "./helpers/tmp.js";
import { pushSignedImage } from "./sync/artifacts.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? ".." : "../..", import.meta.url));
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The command lines of the README's ```sh blocks, comments dropped. */
function shellExamples(text: string): string[] {
  const out: string[] = [];
  for (const block of text.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    for (const line of block[1]!.split("\n")) {
      const cmd = line.replace(/\s+#\s.*$/, "").trim();
      if (cmd !== "") out.push(cmd);
    }
  }
  return out;
}

/** Examples that are not run here, and why. */
const NOT_RUN: Record<string, string> = {
  "npm ci && npm run demo": "installs; `npm run demo` runs below on its own",
  "npm test": "the suite itself",
  "npm install -g .": "installs globally",
  'dray completion zsh > "${fpath[1]}/_dray"': "writes into zsh's function path (the scripts are checked in completion.test.ts)",
  "dray completion fish > ~/.config/fish/completions/dray.fish": "writes into the user's fish config (checked in completion.test.ts)",
};

describe("the README's examples run as written", () => {
  let reg: RegistryHandle;
  let cwd: string;
  let bin: string;

  before(async () => {
    reg = await startRegistry();
    cwd = makeTempDir("dray-readme-");
    bin = makeTempDir("dray-readme-bin-");
    writeFileSync(join(bin, "dray"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin", "dray.cjs")}" "$@"\n`);
    chmodSync(join(bin, "dray"), 0o755);
    const target = { url: reg.url };
    const alpine = await buildImage({ seed: "readme-alpine", layerFiles: [[{ path: "etc/os-release", content: "NAME=Alpine Linux\n" }]] });
    await pushImage(target, "library/alpine", "latest", alpine);
    await pushSignedImage(target, "org/app", "1.0", "readme");
    for (const tag of ["1.1.0", "1.2.0", "1.5.0", "2.0.0"])
      await pushImage(target, "team/app", tag, await buildImage({ seed: `readme-${tag}` }));
    await writeOciLayout(join(cwd, "dir"), await buildIndex({ seed: "readme-dir", platforms: ["linux/amd64", "linux/arm64"] }), "app");
    writeFileSync(
      join(cwd, "sync.yaml"),
      `destination: ${reg.host}/mirror-file\nsync:\n  - source: ${reg.host}/team/app\n    tags: { semver: ">=1.2" }\n`,
    );
  });

  /** README names → what they are here. */
  const localise = (cmd: string): string =>
    cmd
      .replace(/\b(registry\.example\.com|registry\.internal|mirror\.local)\b/g, reg.host)
      .replace(/\bghcr\.io\/org\/app:1\.0\b/g, `${reg.host}/org/app:1.0`)
      .replace(/(?<=\s)alpine(?=\s|$)/g, `${reg.host}/library/alpine`)
      .replace(/oci:\/mnt\/usb/g, "oci:usb");

  it("every example is run or listed as not run", () => {
    const examples = shellExamples(README);
    assert.ok(examples.length >= 15, `found ${examples.length} examples`);
    for (const name of Object.keys(NOT_RUN))
      assert.ok(examples.includes(name), `NOT_RUN names an example the README no longer has: ${name}`);
  });

  it("each runs and exits 0 (in README order: the sync examples build on each other)", () => {
    for (const example of shellExamples(README)) {
      if (example in NOT_RUN) continue;
      const cmd = localise(example);
      const r = spawnSync("bash", ["-o", "pipefail", "-c", cmd], {
        cwd,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, NO_COLOR: "1", HOME: cwd },
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `README: ${example}\nran: ${cmd}\n${r.stderr}`);
    }
  });

  it("npm run demo", () => {
    const r = spawnSync("npm", ["run", "--silent", "demo"], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: cwd },
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"Architecture": "/);
    assert.match(r.stdout, /the tarball: .*\/hello\.tar/);
  });
});
