import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, collect } from "../options.js";
import { addWriteOptions } from "./write-options.js";
import type { IndexFlags, IndexAction } from "./image-index-run.js";

/** The flags every `dray index` subcommand shares. */
function common(cmd: Command): Command {
  cmd
    .option("--annotation <key=value>", "an annotation on the index (repeatable; OCI format only)", collect)
    .option("--manifest-format <oci|docker>", "write an OCI image index or a Docker manifest list")
    .option("--dry-run", "print the index bytes on stdout (its digest on stderr) and write nothing");
  addWriteOptions(cmd);
  return addTransportOptions(cmd, { twoSided: true });
}

/**
 * `dray index create DST SRC…`, `dray index append DST SRC…`, `dray index
 * remove DST --platform P…`: a multi-platform index from images anywhere,
 * children copied into DST's repository with their digests kept.
 */
export function register(program: Command, ctx: CliContext): void {
  const index = program
    .command("index")
    .description("build or edit a multi-platform index from images at any locations (children keep their digests)");
  const run = (action: IndexAction) => async (dst: string, srcs: string[], flags: IndexFlags) => {
    const { runIndex } = await import("./image-index-run.js");
    await runIndex(ctx, action, dst, srcs, flags);
  };
  const adding = (name: IndexAction, description: string, dst: string): void => {
    const cmd = index
      .command(name)
      .description(description)
      .argument("<dst>", dst)
      .argument("<src...>", "images or indexes at any location")
      .option("--platform <os/arch[/variant]>", "take only this platform of each source (repeatable)", collect)
      .option("--replace", "a platform the index already has is replaced instead of refused (exit 2)")
      .option("--referrers", "also copy the children's signatures, attestations and SBOMs");
    common(cmd).action(run(name));
  };
  adding(
    "create",
    "write an index at DST of the images at SRC… (an index contributes its children)",
    "where the index goes: a registry tag, oci:DIR:TAG or oci-archive:FILE:TAG",
  );
  adding("append", "add the images at SRC… to the index at DST", "the index to extend");
  const remove = index
    .command("remove")
    .description("drop the entries of the platforms given with --platform from the index at DST")
    .argument("<dst>", "the index to shrink")
    .option("--platform <os/arch[/variant]>", "a platform to drop (repeatable)", collect);
  common(remove).action(async (dst: string, flags: IndexFlags) => run("remove")(dst, [], flags));
}
