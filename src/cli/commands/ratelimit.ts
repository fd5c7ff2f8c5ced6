import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { RateLimitFlags } from "./ratelimit-run.js";

/**
 * `dray ratelimit LOC`: what a registry says about its pull limit for a
 * repository (RateLimit-Limit / -Remaining / docker-ratelimit-source), from
 * one manifest HEAD, which Docker Hub does not count as a pull.
 */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("ratelimit")
    .description("show a registry's pull limit and what is left of it (one HEAD, no pull counted)")
    .argument("<loc>", "docker://HOST/REPO[:TAG]")
    .option("-f, --format <format>", "text, json, or a Go template such as '{{.Remaining}}'");
  addTransportOptions(cmd);
  cmd.addHelpText("after", "\nExample:\n  dray ratelimit docker://docker.io/library/alpine --format json");
  cmd.action(async (locText: string, flags: RateLimitFlags) => {
    const { runRateLimit } = await import("./ratelimit-run.js");
    await runRateLimit(ctx, locText, flags);
  });
}
