import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { DrayError, exitCodeFor } from "../errors.js";
import { COMMANDS } from "./commands/index.js";
import type { CliContext } from "./context.js";
import { installScavenger } from "./startup/scavenge.js";

/** Set by the CLI bundler (scripts/bundle.mjs), which knows the version at build time. */
declare const __DRAY_VERSION__: string | undefined;

function readVersion(): string {
  if (typeof __DRAY_VERSION__ === "string") return __DRAY_VERSION__;
  // Built: dist/src/cli/main.js (three levels below the package root); run from source under tsx (tests): src/cli/main.ts (two).
  for (const rel of ["../../../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version: string };
      if (pkg.name === "dray") return pkg.version;
    } catch {
      // try the next level
    }
  }
  return "unknown";
}

function colorAllowed(argv: readonly string[]): boolean {
  if (argv.includes("--no-color")) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  return process.stderr.isTTY === true;
}

/** A one-line message for any error; stack traces only with --debug. */
export function describeError(err: unknown, debug: boolean): string {
  if (debug && err instanceof Error && err.stack) return err.stack;
  if (err instanceof DrayError) return err.message;
  if (err instanceof Error) return err.message.split("\n")[0] ?? String(err);
  return String(err);
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("dray")
    .description("Copy, inspect and mirror container images between registries, OCI layouts and archives")
    .version(readVersion(), "-V, --version", "print the version")
    .option("--debug", "log requests and stack traces on stderr (credentials redacted)")
    .option("--no-color", "no colour (also when NO_COLOR is set or stderr is not a terminal)")
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: (s, write) => write(`dray: ${s.replace(/^error: /, "").trimEnd()}\n`),
    })
    .exitOverride();
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

/** Runs the CLI and resolves to the process exit code; never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  installScavenger();
  const controller = new AbortController();
  const debug = argv.includes("--debug");
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
    color: colorAllowed(argv),
    debug,
    message: (line) => process.stderr.write(`${line}\n`),
  };
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130); // a second Ctrl-C stops at once
    interrupted = true;
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    await buildProgram(ctx).parseAsync([...argv]);
    return interrupted ? 130 : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return 2; // commander already printed its one-line message
    }
    if (interrupted) {
      ctx.message("dray: interrupted");
      return 130;
    }
    ctx.message(`dray: ${describeError(err, debug)}`);
    return exitCodeFor(err);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
