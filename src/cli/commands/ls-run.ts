import { formatLocation, repositoryName, UsageError } from "../../api/model.js";
import { listCatalog, openReferences } from "../../api/transport.js";
import { locationArg } from "../location-arg.js";
import { parseRegistryHost } from "../../api/auth.js";
import { transportOptions, type TransportFlags } from "../options.js";
import * as output from "../output.js";
import type { CliContext } from "../context.js";

export interface LsFlags extends TransportFlags {
  catalog?: string;
  format?: string;
}

/** The body of `dray ls`, loaded only when it runs. */
export async function runLs(ctx: CliContext, locText: string | undefined, flags: LsFlags): Promise<void> {
  const format = output.parseFormat(flags.format);
  const transport = transportOptions(flags, ctx);
  if (flags.catalog !== undefined) {
    if (locText !== undefined) throw new UsageError("give either a location or --catalog HOST, not both");
    // skopeo refuses what a command would ignore: a repository after the host is a mistake, not a filter.
    if (/^(?:[a-z]+:\/\/)?[^/]+\/./i.test(flags.catalog.trim())) {
      throw new UsageError(`--catalog takes a registry HOST[:PORT], not a repository: "${flags.catalog}"`);
    }
    const host = parseRegistryHost(flags.catalog);
    // Sorted as the tags below and a folder of layouts are: a registry sends its own order (distribution walks
    // its folders, `a/b` before `a-c`), and a diff of two runs should show only what changed.
    const repositories = (await listCatalog(host, transport, ctx.signal)).sort();
    // Field names as `skopeo list-tags` uses for tags, extended to the catalog.
    return output.render(ctx, format, { Registry: host, Repositories: repositories }, (v) => output.lines(v.Repositories));
  }
  if (locText === undefined) throw new UsageError("missing location (or --catalog HOST)");
  const loc = await locationArg(locText);
  const named = loc.transport === "docker" ? (loc.ref.tag ?? loc.ref.digest) : loc.ref;
  if (named !== undefined)
    throw new UsageError(`ls lists every tag of a repository, layout or archive: give ${locText} without a tag or digest`);
  if (loc.transport === "oci") {
    // A folder a sync into oci:DIR filled holds a layout per repository: listed as a catalog is.
    const { layoutsInFolder } = await import("../../api/sync.js");
    const inside = await layoutsInFolder(loc.path);
    if (inside)
      return output.render(ctx, format, { Folder: formatLocation(loc), Repositories: inside }, (v) => output.lines(v.Repositories));
  }
  const refs = await openReferences(loc, transport);
  let tags: string[];
  try {
    // Sorted by bytes, as the distribution spec asks of a registry's list (distribution 3 sorts so; 2.x sends
    // its folder's order): the same order for a registry, a layout or an archive, run after run.
    tags = (await refs.listTags({ signal: ctx.signal })).sort();
  } finally {
    await refs.close();
  }
  // `{"Repository": …, "Tags": […]}` is what `skopeo list-tags` prints; scripts can swap one for the other.
  const repository = loc.transport === "docker" ? repositoryName(loc.ref) : formatLocation(loc);
  return output.render(ctx, format, { Repository: repository, Tags: tags }, (v) => output.lines(v.Tags));
}
