import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

interface LsFlags extends TransportFlags {
  catalog?: string;
  format?: string;
}

/** `dray ls LOC` (tags of a repository, layout or archive) or `dray ls --catalog HOST` (repositories). */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("ls")
    .alias("list-tags")
    .description("list the tags of a repository, layout or archive, or with --catalog the repositories of a registry")
    .argument("[loc]", "repository (docker://HOST/REPO), oci:PATH, oci-archive:FILE or docker-archive:FILE")
    .option("--catalog <host>", "list the repositories of the registry HOST[:PORT] instead")
    .option("-f, --format <format>", "text (one per line), json, or a Go template such as '{{range .Tags}}{{.}} {{end}}'");
  addTransportOptions(cmd);
  cmd.action(async (locText: string | undefined, flags: LsFlags) => {
    const [{ UsageError }, output] = await Promise.all([import("../../errors.js"), import("../output.js")]);
    const format = output.parseFormat(flags.format);
    const transport = transportOptions(flags, ctx);
    if (flags.catalog !== undefined) {
      if (locText !== undefined) throw new UsageError("give either a location or --catalog HOST, not both");
      const [{ parseRegistryHost }, { listCatalog }] = await Promise.all([import("../../auth/login.js"), import("../../transport/registry/index.js")]);
      // skopeo refuses what a command would ignore: a repository after the host is a mistake, not a filter.
      if (/^(?:[a-z]+:\/\/)?[^/]+\/./i.test(flags.catalog.trim())) {
        throw new UsageError(`--catalog takes a registry HOST[:PORT], not a repository: "${flags.catalog}"`);
      }
      const host = parseRegistryHost(flags.catalog);
      const repositories = await listCatalog(host, transport);
      // Field names as `skopeo list-tags` uses for tags, extended to the catalog.
      return output.render(ctx, format, { Registry: host, Repositories: repositories }, (v) => output.lines(v.Repositories));
    }
    if (locText === undefined) throw new UsageError("missing location (or --catalog HOST)");
    const [{ parseLocation, formatLocation }, { repositoryName }, { openReferences }] = await Promise.all([
      import("../../ref/location.js"),
      import("../../ref/reference.js"),
      import("../../transport/index.js"),
    ]);
    const loc = parseLocation(locText);
    const named = loc.transport === "docker" ? loc.ref.tag ?? loc.ref.digest : loc.ref;
    if (named !== undefined) throw new UsageError(`ls lists every tag of a repository, layout or archive: give ${locText} without a tag or digest`);
    const refs = await openReferences(loc, transport);
    let tags: string[];
    try {
      tags = await refs.listTags();
    } finally {
      await refs.close();
    }
    // `{"Repository": …, "Tags": […]}` is what `skopeo list-tags` prints; scripts can swap one for the other.
    const repository = loc.transport === "docker" ? repositoryName(loc.ref) : formatLocation(loc);
    return output.render(ctx, format, { Repository: repository, Tags: tags }, (v) => output.lines(v.Tags));
  });
}
