import { locationArg } from "../location-arg.js";
import { parsePlatform } from "../../api/model.js";
import { transportOptions, type TransportFlags } from "../options.js";
import * as lib from "../../api/inspect.js";
import * as output from "../output.js";
import type { CliContext } from "../context.js";

export interface InspectFlags extends TransportFlags {
  raw?: boolean;
  config?: boolean;
  tags: boolean;
  platform?: string;
  format?: string;
}

/** The body of `dray inspect`, loaded only when it runs. */
export async function runInspect(ctx: CliContext, locText: string, flags: InspectFlags): Promise<void> {
  const format = output.parseFormat(flags.format, "json");
  const loc = await locationArg(locText);
  const opts = {
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
    tags: flags.tags,
    ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
  };
  if (flags.config) {
    if (flags.raw) return output.writeOut(ctx, output.rawForTerminal(ctx, await lib.inspectConfigRaw(loc, opts)));
    return output.render(ctx, format, await lib.inspectConfig(loc, opts));
  }
  if (flags.raw) return output.writeOut(ctx, output.rawForTerminal(ctx, (await lib.inspectRaw(loc, opts)).bytes));
  return output.render(ctx, format, await lib.inspect(loc, opts), undefined, lib.SUMMARY_OPTIONAL_FIELDS);
}
