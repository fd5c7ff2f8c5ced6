import { Argument, type Command } from "commander";
import type { CliContext } from "../context.js";

const SHELL_NAMES = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELL_NAMES)[number];

/** `dray completion bash|zsh|fish`: a completion script generated from this very program's definitions. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELL_NAMES))
    .addHelpText(
      "after",
      `
Examples:
  source <(dray completion bash)
  dray completion zsh > "\${fpath[1]}/_dray"
  dray completion fish > ~/.config/fish/completions/dray.fish`,
    )
    .action(async (shell: Shell) => {
      const { runCompletion } = await import("./completion-run.js");
      await runCompletion(ctx, program, shell);
    });
}
