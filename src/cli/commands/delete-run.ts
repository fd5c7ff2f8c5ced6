import { openReferences } from "../../api/transport.js";
import { formatLocation } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import { transportOptions, type TransportFlags } from "../options.js";
import * as output from "../output.js";
import type { CliContext } from "../context.js";

export interface DeleteFlags extends TransportFlags {
  format?: string;
}

/** The body of `dray delete`, loaded only when it runs. */
export async function runDelete(ctx: CliContext, locText: string, flags: DeleteFlags): Promise<void> {
  const format = output.parseFormat(flags.format);
  const loc = await locationArg(locText);
  const refs = await openReferences(loc, transportOptions(flags, ctx));
  let result;
  try {
    result = await refs.deleteReference({ signal: ctx.signal });
  } finally {
    await refs.close();
  }
  // Say what went: a name whose image other names still hold is untagged, not deleted.
  if (result.imageKept) ctx.message(`Untagged ${formatLocation(loc)}: image ${result.digest} stays under its other names`);
  else ctx.message(`Deleted ${result.digest} from ${formatLocation(loc)}`);
  if (result.alsoRemovedTags.length > 0) {
    ctx.message(`Also gone (they pointed at the same manifest): ${result.alsoRemovedTags.join(", ")}`);
  }
  if (result.blobsRemoved > 0) ctx.message(`Removed ${result.blobsRemoved} unreferenced blob${result.blobsRemoved === 1 ? "" : "s"}`);
  const summary = {
    Location: formatLocation(loc),
    Digest: result.digest.toString(),
    AlsoRemovedTags: result.alsoRemovedTags,
    BlobsRemoved: result.blobsRemoved,
    ImageKept: result.imageKept === true,
  };
  await output.render(ctx, format, summary, (s) => `${s.Digest}\n`);
}
