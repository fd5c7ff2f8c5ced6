import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

/** `dray tag LOC TAG…`: more names for an existing image; no blob moves. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("tag")
    .description("add tags to an existing image without moving blobs (registry: same manifest PUT under each tag; layout: new ref.name)")
    .argument("<loc>", "image location (registry, oci: layout or archive)")
    .argument("<tags...>", "new tags")
    .option("-f, --format <format>", "nothing on stdout by default; json ({\"Tagged\": [LOCATION…]}) or a Go template");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, tags: string[], flags: TransportFlags & { format?: string }) => {
    const output = await import("../output.js");
    const format = output.parseFormat(flags.format);
    const [{ parseLocation, formatLocation }, { isValidTag, parseReference }, { UsageError }, { openReferences }] = await Promise.all([
      import("../../ref/location.js"),
      import("../../ref/reference.js"),
      import("../../errors.js"),
      import("../../transport/index.js"),
    ]);
    const loc = parseLocation(locText);
    // Check every tag before touching anything, so a typo in the third leaves the first two undone too.
    // A docker-archive's names are NAME:TAG (RepoTags): a full reference is a tag there.
    const nameTagAllowed = loc.transport === "docker-archive";
    for (const tag of tags) {
      if (nameTagAllowed && tag.includes(":") && !parseReference(tag).digest) continue;
      if (!isValidTag(tag)) throw new UsageError(`invalid tag "${tag}": a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, not a reference`, { code: "E_REF_INVALID" });
    }
    const refs = await openReferences(loc, transportOptions(flags, ctx));
    const tagged: string[] = [];
    try {
      for (const tag of tags) {
        await refs.addTag(tag);
        tagged.push(formatLocation(retagged(loc, tag, parseReference)));
        ctx.message(`Tagged ${tagged.at(-1)}`);
      }
    } finally {
      await refs.close();
    }
    // The text form stays empty on stdout (the messages are on stderr): `dray tag` has no data to print.
    await output.render(ctx, format, { Source: formatLocation(loc), Tagged: tagged }, () => "");
  });
}

type Loc = import("../../ref/location.js").Location;

/** The location the new tag makes, for the message. */
function retagged(loc: Loc, tag: string, parseReference: (text: string) => import("../../ref/reference.js").ImageReference): Loc {
  switch (loc.transport) {
    case "docker": {
      const { digest: _digest, ...rest } = loc.ref;
      return { ...loc, ref: { ...rest, tag } };
    }
    case "docker-archive":
      // The RepoTag added: NAME:TAG as given, or a bare tag under the location's NAME.
      if (tag.includes(":")) return { ...loc, ref: parseReference(tag) };
      return loc.ref ? { ...loc, ref: { domain: loc.ref.domain, path: loc.ref.path, tag } } : loc;
    case "oci":
    case "oci-archive":
      return { ...loc, ref: { kind: "tag", tag } };
  }
}
