import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

interface RateLimitFlags extends TransportFlags {
  format?: string;
}

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
    .option("--format <format>", "text, json, or a Go template such as '{{.Remaining}}'");
  addTransportOptions(cmd);
  cmd.addHelpText("after", "\nExample:\n  dray ratelimit docker://docker.io/library/alpine --format json");
  cmd.action(async (locText: string, flags: RateLimitFlags) => {
    const [{ parseLocation }, { UsageError }, output, { rateLimitOf, describeRateLimit }] = await Promise.all([
      import("../../ref/location.js"),
      import("../../errors.js"),
      import("../output.js"),
      import("../../transport/registry/index.js"),
    ]);
    const format = output.parseFormat(flags.format);
    const loc = parseLocation(locText);
    if (loc.transport !== "docker") throw new UsageError("dray ratelimit needs a registry location (docker://HOST/REPO)");
    const report = await rateLimitOf(loc, transportOptions(flags, ctx), ctx.signal);
    const info = report.rateLimit;
    const value = {
      Registry: report.registry,
      Repository: report.repository,
      Reference: report.reference,
      Status: report.status,
      Limit: info?.limit ?? null,
      Remaining: info?.remaining ?? null,
      WindowSeconds: info?.windowSeconds ?? null,
      Source: info?.source ?? null,
    };
    const text = (): string => {
      if (info) return `${report.registry}: ${describeRateLimit(info)}\n`;
      const why = report.status === 405 ? "it refused the HEAD (405)" : `HEAD answered ${report.status}`;
      return `${report.registry}: no rate limit announced (${why})\n`;
    };
    await output.render(ctx, format, value, text);
  });
}
