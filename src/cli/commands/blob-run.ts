import { openVerifiedBlob } from "../../api/blob.js";
import { writeToStream } from "../sink.js";
import { type Descriptor, Digest, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import { openSource } from "../../api/transport.js";
import type { CliContext } from "../context.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { checkOutputFile, writeOutputFile } from "../output-file.js";
import { rawStreamForTerminal } from "../output.js";
import { shortDigest } from "../progress.js";

export interface BlobFlags extends TransportFlags {
  output?: string;
  quiet?: boolean;
}

/** `application/vnd.oci.image.config.v1+json`, `application/json`, a manifest's type: text a terminal may show. */
function isJsonMediaType(mediaType: string): boolean {
  return /(^|[+/])json$/.test(mediaType.split(";")[0]!.trim());
}

export async function runBlob(ctx: CliContext, locText: string, digestText: string, flags: BlobFlags): Promise<void> {
  const loc = await locationArg(locText);
  const digest = Digest.parse(digestText);
  const toFile = flags.output !== undefined && flags.output !== "-";
  if (toFile) await checkOutputFile(flags.output!, "-o");
  const source = await openSource(loc, transportOptions(flags, ctx));
  try {
    // A layer's gzip on a terminal is noise at best and escape sequences at worst: refused before its GET.
    // Manifests and configs are JSON and print as text.
    const admit = (d: Descriptor): void => {
      if (!toFile && ctx.stdout.isTTY && !isJsonMediaType(d.mediaType))
        throw new UsageError(`refusing to write blob ${digest} (${d.mediaType}) to a terminal: use -o FILE or a pipe`);
    };
    const { stream, descriptor } = await openVerifiedBlob(source, digest, ctx.signal, admit);
    if (toFile) {
      await writeOutputFile(ctx, stream, flags.output!, {
        what: `blob ${shortDigest(digest.toString())} to ${flags.output!}`,
        total: descriptor.size >= 0 ? descriptor.size : undefined,
        quiet: flags.quiet,
      });
    } else {
      // On a terminal a JSON blob's control characters are escaped: a registry chooses what the blob holds.
      const escaped = rawStreamForTerminal(ctx);
      await writeToStream(escaped ? stream.pipe(escaped) : stream, ctx.stdout, ctx.signal);
    }
  } finally {
    await source.close();
  }
}
