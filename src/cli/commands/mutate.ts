import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, collect } from "../options.js";
import { addWriteOptions } from "./write-options.js";
import type { MutateFlags } from "./mutate-run.js";

/** `dray mutate SRC [DST]`: config or annotations rewritten, layers untouched, on every platform of an index. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("mutate")
    .description("rewrite an image's config or annotations, layers untouched (every platform of an index); prints old -> new digests")
    .argument("<src>", "the image or index to rewrite")
    .argument("[dst]", "where the result goes (default: SRC's own tag)")
    .option("--label <key=value>", "set a label; KEY- removes it (repeatable)", collect)
    .option("--env <key=value>", "set an environment variable (repeatable)", collect)
    .option("--entrypoint <cmd>", `the entrypoint: a JSON array ('["/app","--serve"]') or words split at spaces; "" clears it`)
    .option("--cmd <cmd>", `the command, as --entrypoint`)
    .option("--user <user>", "the user the image runs as")
    .option("--workdir <dir>", "the working folder")
    .option("--created <time>", "the creation time: RFC 3339 or @SECONDS (default: SOURCE_DATE_EPOCH when set)")
    .option(
      "--annotation <[target:]key=value>",
      "an annotation on index:, manifest:, index,manifest: or manifest[os/arch]: (repeatable)",
      collect,
    )
    .option("--platform <os/arch[/variant]>", "rewrite only this platform of an index (repeatable)", collect);
  addWriteOptions(cmd);
  addTransportOptions(cmd, { twoSided: true });
  cmd.action(async (src: string, dst: string | undefined, flags: MutateFlags) => {
    const { runMutate } = await import("./mutate-run.js");
    await runMutate(ctx, src, dst, flags);
  });
}
