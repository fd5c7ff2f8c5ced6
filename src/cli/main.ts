import { readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { Command, CommanderError } from "commander";
import { DrayError, exitCodeFor } from "../errors.js";
import { escapeControls } from "../ref/reference.js";
import { COMMANDS, type CommandEntry } from "./commands/index.js";
import type { CliContext } from "./context.js";
import { checkStdinReaders, checkEmptyFileFlags } from "./options.js";
import { installScavenger } from "./startup/scavenge.js";
import { interruptedLine, releaseEarlyStop, signalExitCode, STOP_SIGNALS, type StopSignal } from "./startup/stop-signals.cjs";
import { tricksOff } from "./startup/switches.cjs";

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

/** 128 + SIGPIPE: what a shell reports for `yes | head -1`'s yes. */
const BROKEN_PIPE_EXIT = 128 + osConstants.signals.SIGPIPE;

function isBrokenPipe(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if ((e as NodeJS.ErrnoException).code === "EPIPE") return true;
  return false;
}

/**
 * The one command a run declares to commander, from the command line: the
 * first word after the global flags (which take no value), when it names a
 * command and no help flag comes before it. Declaring one command instead of all ~20 (each a dozen options)
 * takes ~17 ms of CPU off every run (src/cli/startup/README.md, `commands`).
 * Anything else (no word, `help`, a misspelt command, `completion`, the
 * switch off) declares them all, so help, suggestions and completion scripts
 * see the whole program.
 */
export function commandToDeclare(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CommandEntry | undefined {
  if (tricksOff(env).has("commands")) return undefined;
  const words = argv.slice(2); // argv is process.argv: node and the script first
  const at = words.findIndex((a) => !a.startsWith("-") || a === "--");
  // `dray --help inspect` prints the program's help, which lists every command.
  if (at < 0 || words.slice(0, at).some((a) => a === "-h" || a === "--help")) return undefined;
  const entry = COMMANDS.find((c) => c.names.includes(words[at]!));
  return entry?.needsAll ? undefined : entry;
}

/** The program with every command, or with `only` (commandToDeclare). */
export function buildProgram(ctx: CliContext, only?: CommandEntry): Command {
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
    .exitOverride()
    .hook("preAction", (_program, action) => {
      checkEmptyFileFlags(action);
      checkStdinReaders(action.opts(), action.args);
    });
  for (const { register } of only ? [only] : COMMANDS) register(program, ctx);
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
    // Messages carry names from images and registries: nothing in them may steer the terminal.
    message: (line) => process.stderr.write(`${escapeControls(line)}\n`),
  };
  // SIGTERM (CI cancellation, `timeout`, systemd, Kubernetes) and SIGHUP (a
  // closed terminal) stop a run the way Ctrl-C does: abort, clean up, one line.
  let stoppedBy: StopSignal | undefined;
  const onSignal = (sig: StopSignal): void => {
    if (stoppedBy) process.exit(signalExitCode(stoppedBy)); // a second signal stops at once
    stoppedBy = sig;
    controller.abort();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  releaseEarlyStop(); // after ours are on: a signal caught while the bundle loaded comes to onSignal
  // A reader that went away (`dray copy … oci-archive:- | head -c 10`): stop the work and exit
  // quietly with SIGPIPE's status, as Unix tools killed by SIGPIPE do (Node ignores the signal itself).
  let stdoutClosed = false;
  const onStdoutError = (err: Error): void => {
    if (!isBrokenPipe(err)) return;
    stdoutClosed = true;
    controller.abort();
  };
  process.stdout.on("error", onStdoutError);
  try {
    const program = buildProgram(ctx, commandToDeclare(argv));
    // Bare `dray` (or only global flags) is a usage error: help on stderr, exit 2, so `dray $EMPTY` in a
    // script fails instead of passing. `dray --help` prints the same on stdout with 0.
    const words = argv.slice(2); // argv is process.argv: node and the script first
    if (!words.some((a) => !a.startsWith("-")) && !words.some((a) => ["-h", "--help", "-V", "--version"].includes(a))) {
      ctx.stderr.write(program.helpInformation());
      ctx.message("dray: a command is needed (dray COMMAND --help for its use)");
      return 2;
    }
    await program.parseAsync([...argv]);
    if (stdoutClosed) return BROKEN_PIPE_EXIT;
    return stoppedBy ? signalExitCode(stoppedBy) : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return 2; // commander already printed its one-line message
    }
    if (stdoutClosed || isBrokenPipe(err)) return BROKEN_PIPE_EXIT;
    if (stoppedBy) {
      ctx.message(interruptedLine(stoppedBy));
      return signalExitCode(stoppedBy);
    }
    ctx.message(`dray: ${describeError(err, debug)}`);
    return exitCodeFor(err);
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    process.stdout.off("error", onStdoutError);
  }
}
