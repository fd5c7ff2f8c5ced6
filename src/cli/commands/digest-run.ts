import { manifestDigest } from "../../api/inspect.js";
import { formatLocation, parsePlatform } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import { parseFormat, render } from "../output.js";
import { transportOptions, type TransportFlags } from "../options.js";
import type { CliContext } from "../context.js";

export interface DigestFlags extends TransportFlags {
  platform?: string;
  format?: string;
}

/** The body of `dray digest`, loaded only when it runs. */
export async function runDigest(ctx: CliContext, locText: string, flags: DigestFlags): Promise<void> {
  const format = parseFormat(flags.format);
  const loc = await locationArg(locText);
  const raw = await manifestDigest(loc, {
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
    ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
  });
  await render(ctx, format, { Location: formatLocation(loc), Digest: raw.digest.toString() }, (v) => `${v.Digest}\n`);
}
