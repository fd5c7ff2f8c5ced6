import { Option, type Command } from "commander";
import type { CliContext } from "../context.js";
import { addSignOptions, addTransportOptions, addTrustOptions, collect, parseCount } from "../options.js";
import { PROGRESS_MODES } from "../progress.js";
import type { CopyFlags } from "./copy-run.js";

/** `dray copy SRC DST` (alias `cp`): any location to any location, digests unchanged. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("copy")
    .alias("cp")
    .description("copy an image or a whole multi-platform index between registries, OCI layouts and archives")
    .argument("<src>", "source: docker://…, oci:…, oci-archive:…, docker-archive:…")
    .argument("<dst>", "destination, in the same forms ('-' as an archive FILE is stdout)")
    .option("--platform <os/arch[/variant]>", "copy only this platform of an index (repeatable)", collect)
    .option("--all-tags", "copy every tag of the source repository")
    .option("--referrers", "also copy signatures, attestations and SBOMs that refer to the image")
    .option(
      "--manifest-format <oci|docker>",
      "convert manifests and indexes to this format (new digests; layers and config bytes unchanged)",
    )
    .option("--compress <gzip|zstd|none>", "recompress every layer (new digests; none writes plain tar layers)")
    .option("--compress-level <n>", "level for --compress (gzip 0-9, zstd 1-22)")
    .option("-j, --jobs <n>", "blobs in flight at once (default: a 64 MiB window, up to 16 blobs)", parseCount("--jobs", 1))
    .option("--force", "replace an existing file at an oci-archive:/docker-archive: destination that is not such an archive")
    .option("--digestfile <file>", "write the digest of the copied image to FILE")
    .option("-f, --format <format>", "summary on stdout: text (the digest), json, or a Go template such as '{{.Digest}}'")
    .option("-q, --quiet", "no progress and no messages, only data on stdout")
    .addOption(new Option("--progress <mode>", "progress on stderr").choices(PROGRESS_MODES).default("auto"));
  addTrustOptions(cmd, { gate: true });
  addSignOptions(cmd);
  addTransportOptions(cmd, { twoSided: true });
  cmd.action(async (srcText: string, dstText: string, flags: CopyFlags) => {
    const { runCopy } = await import("./copy-run.js");
    await runCopy(ctx, srcText, dstText, flags);
  });
}
