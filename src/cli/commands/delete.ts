import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { DeleteFlags } from "./delete-run.js";

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
    const { runDelete } = await import("./delete-run.js");
    await runDelete(ctx, locText, flags);
  });
}
