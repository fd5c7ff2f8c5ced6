import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { CatFlags } from "./cat-run.js";

/** `dray cat LOC PATH` and `dray cat --list LOC [PATH]`: one file of the merged filesystem, or its names. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("cat")
    .description("print one file of the image's merged filesystem (symlinks followed inside the image), or with --list its names")
    .argument("<loc>", "image location: docker://…, oci:…, oci-archive:…, docker-archive:…")
    .argument("[path]", "the file, e.g. /etc/os-release (with --list: the folder to list, default all)")
    .option("--list", "print the merged tree's names (under PATH when given), one per line")
    .option("-l, --long", "with --list: type, mode, owner, size, time and link target, as ls -l")
    .option("-f, --format <format>", "with --list: text (default) or json")
    .option("--platform <os/arch[/variant]>", "pick this platform's image from an index (default: this machine's)");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, path: string | undefined, flags: CatFlags) => {
    const { runCat } = await import("./cat-run.js");
    await runCat(ctx, locText, path, flags);
  });
}
