import { NotFoundError, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import { describeRateLimit, registryRateLimit } from "../../api/transport.js";
import type { CliContext } from "../context.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render } from "../output.js";

export interface RateLimitFlags extends TransportFlags {
  format?: string;
}

/** The body of `dray ratelimit`, loaded only when it runs. */
export async function runRateLimit(ctx: CliContext, locText: string, flags: RateLimitFlags): Promise<void> {
  const format = parseFormat(flags.format);
  const loc = await locationArg(locText);
  if (loc.transport !== "docker") throw new UsageError("dray ratelimit needs a registry location (docker://HOST/REPO)");
  const report = await registryRateLimit(loc, transportOptions(flags, ctx), ctx.signal);
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
  await render(ctx, format, value, text);
  // A missing repository or tag is not a limit of zero: the headers are shown, then exit 3 as every other command.
  if (report.status === 404) {
    throw new NotFoundError(`${report.reference} not found in ${report.registry}/${report.repository} (HEAD answered 404)`, {
      where: locText,
      status: 404,
    });
  }
}
