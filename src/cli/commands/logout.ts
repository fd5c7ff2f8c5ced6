import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** `dray logout HOST`: removes the host's credential from docker config.json and, when it was there, the OS keychain. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command("logout")
    .description("remove the stored credential for a registry (config.json entry and keychain secret)")
    .argument("<host>", "registry host[:port]")
    .action(async (host: string) => {
      const { runLogout } = await import("./logout-run.js");
      await runLogout(ctx, host);
    });
}
