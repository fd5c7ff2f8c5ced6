import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, parseCount } from "../options.js";
import type { ReferrersFlags } from "./referrers-run.js";

/** `dray referrers LOC`: signatures, SBOMs and attestations that refer to the image, recursively. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("referrers")
    .description(
      "show what refers to an image (signatures, SBOMs, attestations), recursively: a tree on a terminal, one line each otherwise",
    )
    .argument("<loc>", "image location: docker://…, oci:… or oci-archive:…")
    .option("--artifact-type <type>", "only referrers of this artifact type")
    .option("--depth <n>", "levels of referrers to follow (1: the image's own)", parseCount("--depth"))
    .option("-f, --format <format>", "text (default) or json (nested)");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: ReferrersFlags) => {
    const { runReferrers } = await import("./referrers-run.js");
    await runReferrers(ctx, locText, flags);
  });
}
