import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, collect } from "../options.js";
import { addWriteOptions } from "./write-options.js";
import type { AppendFlags } from "./append-run.js";

/** `dray append BASE --layer PATH… -t DST`: layers added onto an image (every platform) or scratch. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("append")
    .description("add layers (tars, gzip/zstd tars, or folders packed reproducibly) on top of BASE or scratch, written to DST")
    .argument("<base>", "the image or index to build on, or scratch (with --platform)")
    .option("--layer <path>", "a tar, gzip/zstd tar, or folder to add as a layer (repeatable, bottom first)", collect)
    .option("-t, --tag <dst>", "where the result goes (required)")
    .option("--platform <os/arch[/variant]>", "only this platform of an index (repeatable); with scratch, the platform to make", collect)
    .option("--compress <gzip|zstd|none>", "compression of the new layers (default gzip)")
    .option("--compress-level <n>", "level for --compress (gzip 0-9, zstd 1-22)")
    .option("--keep-owner", "keep a folder's uid/gid instead of 0:0")
    .option("--manifest-format <oci|docker>", "with scratch: the manifest format (default oci)");
  addWriteOptions(cmd);
  addTransportOptions(cmd, { twoSided: true });
  cmd.action(async (base: string, flags: AppendFlags) => {
    const { runAppend } = await import("./append-run.js");
    await runAppend(ctx, base, flags);
  });
}
