import { exportFilesystem } from "../../api/content.js";
import { writeToStream } from "../sink.js";
import { parsePlatform, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { checkOutputFile, writeOutputFile } from "../output-file.js";

export interface ExportFlags extends TransportFlags {
  output?: string;
  quiet?: boolean;
  platform?: string;
}

export async function runExport(ctx: CliContext, locText: string, flags: ExportFlags): Promise<void> {
  const loc = await locationArg(locText);
  const toStdout = flags.output === undefined || flags.output === "-";
  // A tar on a terminal is noise at best and escape sequences at worst (as `tar -c` and `crane export` refuse).
  if (toStdout && ctx.stdout.isTTY) throw new UsageError("refusing to write a tar to a terminal: use -o FILE or a pipe");
  if (!toStdout) await checkOutputFile(flags.output!, "-o");
  const tar = exportFilesystem(loc, {
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
    notice: (m) => ctx.message(`dray: ${m}`),
    ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
  });
  if (toStdout) {
    await writeToStream(tar, ctx.stdout, ctx.signal);
    return;
  }
  await writeOutputFile(ctx, tar, flags.output!, { what: `exporting to ${flags.output!}`, quiet: flags.quiet });
}
