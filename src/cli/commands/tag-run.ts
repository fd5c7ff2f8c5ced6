import { formatLocation, isValidTag, type Location, parseReference, UsageError } from "../../api/model.js";
import { openReferences } from "../../api/transport.js";
import { locationArg } from "../location-arg.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render } from "../output.js";
import type { CliContext } from "../context.js";

export interface TagFlags extends TransportFlags {
  format?: string;
}

/** The body of `dray tag`, loaded only when it runs. */
export async function runTag(ctx: CliContext, locText: string, tags: string[], flags: TagFlags): Promise<void> {
  const format = parseFormat(flags.format);
  const loc = await locationArg(locText);
  // A docker-archive's names are NAME:TAG (RepoTags): a full reference is a tag there.
  const nameTagAllowed = loc.transport === "docker-archive";
  // Check every tag before touching anything, so a typo in the third leaves the first two undone too.
  for (const tag of tags) {
    if (nameTagAllowed && tag.includes(":") && !parseReference(tag).digest) continue;
    if (!isValidTag(tag))
      throw new UsageError(`invalid tag "${tag}": a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, not a reference`, { code: "E_REF_INVALID" });
  }
  const refs = await openReferences(loc, transportOptions(flags, ctx));
  const tagged: string[] = [];
  try {
    for (const tag of tags) {
      await refs.addTag(tag, { signal: ctx.signal });
      tagged.push(formatLocation(retagged(loc, tag)));
      ctx.message(`Tagged ${tagged.at(-1)}`);
    }
  } finally {
    await refs.close();
  }
  // The text form stays empty on stdout (the messages are on stderr): `dray tag` has no data to print.
  await render(ctx, format, { Source: formatLocation(loc), Tagged: tagged }, () => "");
}

/** The location the new tag makes, for the message. */
function retagged(loc: Location, tag: string): Location {
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
