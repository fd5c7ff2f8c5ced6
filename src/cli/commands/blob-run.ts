import { openVerifiedBlob } from "../../content/blob.js";
import { writeFileAtomically, writeToStream } from "../../content/sink.js";
import { Digest } from "../../oci/digest.js";
import { parseLocation } from "../../ref/location.js";
import { openSource } from "../../transport/index.js";
import type { CliContext } from "../context.js";
import { transportOptions } from "../options.js";
import type { BlobFlags } from "./blob.js";

export async function runBlob(ctx: CliContext, locText: string, digestText: string, flags: BlobFlags): Promise<void> {
  const loc = parseLocation(locText);
  const digest = Digest.parse(digestText);
  const source = await openSource(loc, transportOptions(flags, ctx));
  try {
    const { stream } = await openVerifiedBlob(source, digest, ctx.signal);
    if (flags.output !== undefined && flags.output !== "-") await writeFileAtomically(stream, flags.output, ctx.signal);
    else await writeToStream(stream, ctx.stdout, ctx.signal);
  } finally {
    await source.close();
  }
}
