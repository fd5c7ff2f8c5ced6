import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { LsFlags } from "./ls-run.js";

/** `dray ls LOC` (tags of a repository, layout or archive) or `dray ls --catalog HOST` (repositories). */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("ls")
    .alias("list-tags")
    .description(
      "list the tags of a repository, layout or archive, the repositories of a folder of layouts (sync's oci:DIR), or with --catalog those of a registry",
    )
    .argument("[loc]", "repository (docker://HOST/REPO), oci:PATH, oci-archive:FILE or docker-archive:FILE")
    .option("--catalog <host>", "list the repositories of the registry HOST[:PORT] instead")
    .option("-f, --format <format>", "text (one per line), json, or a Go template such as '{{range .Tags}}{{.}} {{end}}'");
  addTransportOptions(cmd);
  cmd.action(async (locText: string | undefined, flags: LsFlags) => {
    const { runLs } = await import("./ls-run.js");
    await runLs(ctx, locText, flags);
  });
}
