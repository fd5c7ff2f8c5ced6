import type { Command } from "commander";
import { completionScript, type Shell } from "../completion.js";
import type { CliContext } from "../context.js";
import { writeOut } from "../output.js";

/** The body of `dray completion`, loaded only when it runs. */
export async function runCompletion(ctx: CliContext, program: Command, shell: Shell): Promise<void> {
  await writeOut(ctx, completionScript(program, shell));
}
