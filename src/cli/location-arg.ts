// A location typed on the command line. Without a prefix it is a registry
// image (`alpine`), which a forgotten `docker-archive:` turns into a request
// to Docker Hub for `docker.io/library/legacy.tar`. When the name is a local
// image (a layout folder, an archive) it is refused before any request,
// naming the prefix that was probably meant; `docker://NAME` still means the registry.
import { basename } from "node:path";
import { UsageError } from "../errors.js";
import { parseLocation, type Location } from "../ref/location.js";
import { localKind, type LocalKind } from "../transport/index.js";

const WHAT: Record<Exclude<LocalKind, "folder">, string> = {
  oci: "an OCI layout folder",
  "oci-archive": "an OCI archive",
  "docker-archive": "a docker save archive",
  file: "a file that is no image archive",
};

/** `parseLocation`, refusing a prefix-less name that is a local image, file or layout (exit 2). */
export async function locationArg(text: string): Promise<Location> {
  let loc: Location;
  try {
    loc = parseLocation(text);
  } catch (err) {
    const hint = err instanceof UsageError ? await localHint(text) : undefined;
    if (hint) throw new UsageError(`${err instanceof Error ? err.message : String(err)}; ${hint}`, { code: "E_LOCATION_INVALID" });
    throw err;
  }
  if (loc.transport !== "docker" || text.startsWith("docker://")) return loc;
  const hint = await localHint(text);
  if (hint)
    throw new UsageError(`${text} has no transport prefix, so it names a registry image; ${hint} (docker://${text} for the registry)`, {
      code: "E_LOCATION_INVALID",
    });
  return loc;
}

/** What the local path `text` (or, for `FILE:REF`, its FILE) holds, as a suggestion; undefined when nothing local is an image or file. */
async function localHint(text: string): Promise<string | undefined> {
  const colon = text.indexOf(":");
  for (const path of colon > 0 ? [text, text.slice(0, colon)] : [text]) {
    const kind = await localKind(path);
    if (kind === undefined || kind === "folder") continue;
    // Some other file blocks the registry name only when it is the whole name and looks like a file
    // (`notes.txt`): a stray `ubuntu` or `alpine` in the folder must not stop `dray copy alpine:3.19`.
    if (kind === "file" && (path !== text || !basename(path).includes("."))) continue;
    const suggestion = kind === "file" ? "" : `: did you mean ${kind}:${text}?`;
    return `a local path ${path} exists, ${WHAT[kind]}${suggestion}`;
  }
  return undefined;
}
