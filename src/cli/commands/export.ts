import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { ExportFlags } from "./export-run.js";

/** `dray export LOC [-o FILE|-]`: the merged root filesystem as one tar. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("export")
    .description("write the image's merged root filesystem (whiteouts applied) as one tar")
    .argument("<loc>", "image location: docker://…, oci:…, oci-archive:…, docker-archive:…")
    .option("-q, --quiet", "no progress and no summary line on stderr")
    .option("-o, --output <file>", "write the tar to FILE (renamed into place when complete); - or none: stdout, never a terminal")
    .option("--platform <os/arch[/variant]>", "pick this platform's image from an index (default: this machine's)");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: ExportFlags) => {
    const { runExport } = await import("./export-run.js");
    await runExport(ctx, locText, flags);
  });
}
