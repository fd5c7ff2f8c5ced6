// What a local path holds, for a location that names a file or folder without
// a transport prefix (`dray copy legacy.tar oci:x`): the prefix the user most
// likely meant, decided from the contents, before anything reaches a registry.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** `oci`, `oci-archive`, `docker-archive`: an image in that form; `folder`/`file`: something else. */
export type LocalKind = "oci" | "oci-archive" | "docker-archive" | "folder" | "file";

export async function localKind(path: string): Promise<LocalKind | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  if (st.isDirectory()) {
    const marker = await readFile(join(path, "oci-layout"), "utf8").catch(() => undefined);
    return marker === undefined ? "folder" : "oci";
  }
  if (!st.isFile()) return "file";
  try {
    // One pass over the headers (bodies flow past unread): only reached when the name already failed as a registry image.
    const { TarIndex } = await import("./archive/tar-index.js");
    const tar = await TarIndex.open(path);
    // docker save (any version) writes manifest.json; Docker 25+'s dual form is an OCI archive too, docker-archive reads both.
    if (tar.has("manifest.json")) return "docker-archive";
    if (tar.has("index.json") || tar.has("oci-layout")) return "oci-archive";
  } catch {
    // not a tar: an ordinary file
  }
  return "file";
}
