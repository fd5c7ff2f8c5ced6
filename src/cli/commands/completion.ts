import { Argument, type Command } from "commander";
import { SHELLS, type Shell } from "../completion.js";
import type { CliContext } from "../context.js";

/** `dray completion bash|zsh|fish`: a completion script generated from this very program's definitions. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS))
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
