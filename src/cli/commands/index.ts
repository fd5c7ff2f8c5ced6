import type { Command } from "commander";
import type { CliContext } from "../context.js";

/**
 * Each command module exports `register(program, ctx)`: it declares the syntax
 * and an action that imports its implementation lazily (`await import(...)`),
 * so `dray --version` and `--help` load commander and these declarations only.
 */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export const COMMANDS: readonly RegisterCommand[] = [];
