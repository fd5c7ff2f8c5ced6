// A run declares to commander only the command it runs (src/cli/main.ts,
// commandToDeclare; trick `commands`): the table's names are what each
// command declares, and what a user sees (help, suggestions, usage errors,
// completion scripts) is the same as with every command declared.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { Command } from "commander";
import { COMMANDS } from "../../../src/cli/commands/index.js";
import { buildProgram, commandToDeclare } from "../../../src/cli/main.js";
import { silentContext } from "../../helpers/cli-context.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../.." : "../../../..", import.meta.url));
const BIN = join(ROOT, "bin", "dray.cjs");

const context = silentContext;

const argv = (line: string): string[] => ["node", "dray", ...line.split(" ").filter((w) => w !== "")];
const declared = (line: string, env: NodeJS.ProcessEnv = {}): string | undefined => commandToDeclare(argv(line), env)?.names[0];

describe("declaring only the command a run runs", () => {
  it("the table's names are each command's name and aliases, and every command is in it once", () => {
    for (const entry of COMMANDS) {
      const program = new Command("dray");
      entry.register(program, context());
      assert.equal(program.commands.length, 1, entry.names[0]);
      const cmd = program.commands[0]!;
      assert.deepEqual([cmd.name(), ...cmd.aliases()], entry.names);
    }
    const all = buildProgram(context()).commands.map((c) => c.name());
    assert.deepEqual(
      all,
      COMMANDS.map((c) => c.names[0]),
    );
  });

  it("picks the first word after the global flags; help before it, completion, unknown words and the switch declare all", () => {
    assert.equal(declared("inspect oci:x"), "inspect");
    assert.equal(declared("--debug --no-color cp a b"), "copy");
    assert.equal(declared("list-tags docker://h/r"), "ls");
    assert.equal(declared("inspect --help"), "inspect");
    for (const line of ["", "--help", "--help inspect", "-h inspect", "help inspect", "inspct x", "completion bash", "-- inspect x"])
      assert.equal(declared(line), undefined, line);
    assert.equal(declared("inspect oci:x", { DRAY_STARTUP_OFF: "commands" }), undefined);
    assert.equal(buildProgram(context(), commandToDeclare(argv("rm x"), {})).commands.length, 1);
  });

  it("what a user sees is the same with every command declared (DRAY_STARTUP_OFF=commands)", () => {
    const run = (args: string[], off: boolean): string => {
      const env = { PATH: process.env.PATH, HOME: ROOT, NO_COLOR: "1", ...(off ? { DRAY_STARTUP_OFF: "commands" } : {}) };
      const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: "utf8" });
      return `${r.status}\n${r.stdout}\n${r.stderr}`;
    };
    for (const args of [
      ["inspect", "--help"],
      ["cp", "--help"],
      ["inspect"],
      ["inspect", "--bogus", "x"],
      ["--help", "inspect"],
      ["inspct"],
    ]) {
      const on = run(args, false);
      assert.equal(on, run(args, true), args.join(" "));
      assert.match(on, /Usage: dray|dray: /, args.join(" "));
    }
  });
});
