import {
  formatLocation,
  NotFoundError,
  parseRepositoryInLayout,
  repositoryName,
  UsageError,
  type LayoutLocation,
  type Location,
  type TransportOptions,
} from "../../api/model.js";
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
  const inLayout = parseRepositoryInLayout(locText);
  if (inLayout) {
    const listed = await repositoryTags(ctx, inLayout, transport);
    if (listed) return output.render(ctx, format, listed, (v) => output.lines(v.Tags));
  }
  const loc = await locationArg(locText);
  const named = loc.transport === "docker" ? (loc.ref.tag ?? loc.ref.digest) : loc.ref;
  if (named !== undefined) {
    const mirror =
      loc.transport === "docker" ? "" : ` (${formatLocation({ ...loc, ref: undefined })}:REPO lists the tags of REPO in a mirror archive)`;
    throw new UsageError(`ls lists every tag of a repository, layout or archive: give ${locText} without a tag or digest${mirror}`);
  }
  if (loc.transport === "oci") {
    // A folder a sync into oci:DIR filled holds a layout per repository: listed as a catalog is.
    const { layoutsInFolder } = await import("../../api/sync.js");
    const inside = await layoutsInFolder(loc.path);
    if (inside)
      return output.render(ctx, format, { Folder: formatLocation(loc), Repositories: inside }, (v) => output.lines(v.Repositories));
  }
  const tags = await sortedTags(ctx, loc, transport);
  // `{"Repository": …, "Tags": […]}` is what `skopeo list-tags` prints; scripts can swap one for the other.
  const repository = loc.transport === "docker" ? repositoryName(loc.ref) : formatLocation(loc);
  return output.render(ctx, format, { Repository: repository, Tags: tags }, (v) => output.lines(v.Tags));
}

/** Every tag (name) at `loc`, sorted by bytes. */
async function sortedTags(ctx: CliContext, loc: Location, transport: TransportOptions): Promise<string[]> {
  const refs = await openReferences(loc, transport);
  try {
    // Sorted by bytes, as the distribution spec asks of a registry's list (distribution 3 sorts so; 2.x sends
    // its folder's order): the same order for a registry, a layout or an archive, run after run.
    return (await refs.listTags({ signal: ctx.signal })).sort();
  } finally {
    await refs.close();
  }
}

/**
 * `ls oci-archive:FILE:REPO`: the tags of REPO in a mirror archive (its names `REPO:TAG`, the prefix cut), as
 * `ls HOST/REPO` lists them at the registry it came from. Undefined when REPO is a tag there, so the usual
 * refusal of a tag follows; not found (exit 3) when the archive holds neither.
 */
async function repositoryTags(
  ctx: CliContext,
  at: { location: LayoutLocation; repository: string },
  transport: TransportOptions,
): Promise<{ Repository: string; Tags: string[] } | undefined> {
  const names = await sortedTags(ctx, at.location, transport);
  const prefix = `${at.repository}:`;
  const tags = names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  if (tags.length > 0) return { Repository: `${formatLocation(at.location)}:${at.repository}`, Tags: tags };
  if (names.includes(at.repository)) return undefined;
  const where = formatLocation(at.location);
  throw new NotFoundError(
    `${where} holds no repository ${at.repository} (no name ${at.repository}:TAG) nor a tag of that name: dray ls ${where} lists its names`,
    { where },
  );
}
