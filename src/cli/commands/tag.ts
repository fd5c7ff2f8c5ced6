import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { TagFlags } from "./tag-run.js";

/** `dray tag LOC TAG…`: more names for an existing image; no blob moves. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("tag")
    .description("add tags to an existing image without moving blobs (registry: same manifest PUT under each tag; layout: new ref.name)")
    .argument("<loc>", "image location (registry, oci: layout or archive)")
    .argument("<tags...>", "new tags")
    .option("-f, --format <format>", 'nothing on stdout by default; json ({"Source", "Tagged": [LOCATION…]}) or a Go template');
  addTransportOptions(cmd);
  cmd.action(async (locText: string, tags: string[], flags: TagFlags) => {
    const { runTag } = await import("./tag-run.js");
    await runTag(ctx, locText, tags, flags);
  });
}
