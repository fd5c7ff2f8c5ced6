import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/main.js";
import { LOCATION_PREFIXES, SHELLS, describeProgram } from "../../src/cli/completion.js";
import { silentContext } from "../helpers/cli-context.js";
import { drayOk } from "./run.js";

/** The repository root (this file runs from test/cli/ under tsx and from dist/test/cli/ when built). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

const ROOT = repoRoot();
const committed = (shell: string): string => readFileSync(join(ROOT, "completions", `dray.${shell}`), "utf8");

function has(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

/** zsh and fish are optional on a developer machine; CI installs them (.ci/run), and there a missing shell fails. */
function requireShell(t: { skip: (why: string) => void }, shell: string): boolean {
  if (has(shell)) return true;
  if (process.env.CI === "true") throw new Error(`${shell} is not installed (CI=true: apt-get install -y ${shell})`);
  t.skip(`${shell} not installed`);
  return false;
}

function program(): Command {
  return buildProgram(silentContext());
}

/** Runs the bash completion function for a command line (cursor at its end) and returns COMPREPLY. */
function bashComplete(line: string): string[] {
  const script = `
source "${join(ROOT, "completions", "dray.bash")}"
COMP_LINE=$1; COMP_POINT=\${#1}; COMP_WORDBREAKS=$' \\t\\n"\\'><=;|&(:'; COMPREPLY=()
_dray
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync("bash", ["-c", script, "bash", line], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l !== "");
}

function fishComplete(line: string): string[] {
  const r = spawnSync("fish", ["-c", `source ${join(ROOT, "completions", "dray.fish")}; complete -C${JSON.stringify(line)}`], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\t")[0]!);
}

describe("dray completion", () => {
  for (const shell of SHELLS) {
    it(`completions/dray.${shell} is exactly what \`dray completion ${shell}\` prints (regenerate: dray completion ${shell} > completions/dray.${shell})`, async () => {
      const printed = await drayOk(["completion", shell]);
      assert.equal(printed.stdout, committed(shell));
    });
  }

  it("every command, alias and flag of the program is in every script", () => {
    const spec = describeProgram(program());
    assert.ok(spec.commands.length >= 8, "all commands registered");
    for (const shell of SHELLS) {
      const text = committed(shell);
      for (const c of spec.commands) {
        for (const name of [c.name, ...c.aliases]) assert.ok(text.includes(name), `${shell}: command ${name}`);
        for (const o of c.options) {
          // fish names flags without dashes (`-l platform`), the others with them.
          const flag = shell === "fish" ? (o.long ?? o.short)!.replace(/^-+/, "") : (o.long ?? o.short)!;
          assert.ok(text.includes(flag), `${shell}: ${c.name} ${flag}`);
        }
      }
    }
  });

  it("bash: loads, registers the function, completes commands, flags, choices, location prefixes and paths after a prefix", () => {
    const r = spawnSync("bash", ["-c", `source "${join(ROOT, "completions", "dray.bash")}" && complete -p dray`], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "complete -F _dray dray");
    assert.deepEqual(bashComplete("dray ins"), ["inspect"]);
    assert.ok(bashComplete("dray ").includes("copy"));
    assert.ok(bashComplete("dray inspect --").includes("--raw"));
    assert.ok(bashComplete("dray inspect --").includes("--platform"));
    assert.deepEqual(bashComplete("dray completion "), ["bash", "zsh", "fish"]);
    assert.deepEqual(bashComplete("dray inspect "), [...LOCATION_PREFIXES]);
    assert.deepEqual(bashComplete("dray inspect oci"), ["oci:", "oci-archive:"]);
    // After `oci:` bash has already split at the colon: the reply is the rest of the word.
    assert.deepEqual(bashComplete("dray inspect oci:examples/h"), ["examples/hello/"]);
    assert.deepEqual(bashComplete("dray inspect docker:"), ["//"]);
    assert.deepEqual(bashComplete("dray ls --authfile package.j"), ["package.json"]);
    // Values of flags whose placeholder lists them, and --format's two words (issue 28 item 22).
    assert.deepEqual(bashComplete("dray copy --manifest-format "), ["oci", "docker"]);
    assert.deepEqual(bashComplete("dray sync --compress "), ["gzip", "zstd", "none"]);
    assert.deepEqual(bashComplete("dray inspect --format "), ["text", "json"]);
    // oci: names a layout folder: files are not offered; an archive prefix offers them.
    assert.deepEqual(bashComplete("dray inspect oci:package"), []);
    assert.deepEqual(bashComplete("dray inspect oci-archive:package.j"), ["package.json"]);
  });

  it("zsh: the script parses and registers _dray with compinit", (t) => {
    if (!requireShell(t, "zsh")) return;
    const file = join(ROOT, "completions", "dray.zsh");
    const syntax = spawnSync("zsh", ["-n", file], { encoding: "utf8" });
    assert.equal(syntax.status, 0, syntax.stderr);
    const r = spawnSync(
      "zsh",
      ["-f", "-c", `autoload -Uz compinit && compinit -u -D; source "${file}"; print -r -- $_comps[dray]; whence -w _dray _dray_location`],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["_dray", "_dray: function", "_dray_location: function"]);
  });

  it("fish: completes commands, flags, choices, location prefixes and paths after a prefix", (t) => {
    if (!requireShell(t, "fish")) return;
    assert.ok(fishComplete("dray ").includes("inspect"));
    assert.ok(fishComplete("dray inspect --").includes("--no-tags"));
    assert.deepEqual(fishComplete("dray completion ").sort(), ["bash", "fish", "zsh"]);
    assert.deepEqual(fishComplete("dray inspect ").sort(), [...LOCATION_PREFIXES].sort());
    assert.deepEqual(fishComplete("dray inspect oci:examples/h"), ["oci:examples/hello/"]);
    assert.deepEqual(fishComplete("dray inspect oci:package"), []);
    assert.deepEqual(fishComplete("dray copy --manifest-format ").sort(), ["docker", "oci"]);
  });
});
