import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

interface DeleteFlags extends TransportFlags {
  format?: string;
}

/**
 * `dray delete LOC`: a registry manifest (by digest; a tag is resolved first,
 * and every other tag on that digest goes with it), or a layout or archive
 * reference and then the blobs nothing references any more.
 */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("delete")
    .alias("rm")
    .description("delete a manifest from a registry, or a reference (and unreferenced blobs) from a layout or archive")
    .argument("<loc>", "image location (registry tag or digest, oci:PATH:REF, oci-archive:FILE:REF, docker-archive:FILE:NAME:TAG)")
    .option("-f, --format <format>", "text (the deleted digest), json, or a Go template such as '{{.Digest}}'");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: DeleteFlags) => {
    const [{ parseLocation, formatLocation }, output, { openReferences }] = await Promise.all([
      import("../../ref/location.js"),
      import("../output.js"),
      import("../../transport/index.js"),
    ]);
    const format = output.parseFormat(flags.format);
    const loc = parseLocation(locText);
    const refs = await openReferences(loc, transportOptions(flags, ctx));
    let result;
    try {
      result = await refs.deleteReference();
    } finally {
      await refs.close();
    }
    ctx.message(`Deleted ${result.digest} from ${formatLocation(loc)}`);
    if (result.alsoRemovedTags.length > 0) {
      ctx.message(`Also gone (they pointed at the same manifest): ${result.alsoRemovedTags.join(", ")}`);
    }
    if (result.blobsRemoved > 0) ctx.message(`Removed ${result.blobsRemoved} unreferenced blob${result.blobsRemoved === 1 ? "" : "s"}`);
    const summary = {
      Location: formatLocation(loc),
      Digest: result.digest.toString(),
      AlsoRemovedTags: result.alsoRemovedTags,
      BlobsRemoved: result.blobsRemoved,
    };
    await output.render(ctx, format, summary, (s) => `${s.Digest}\n`);
  });
}
