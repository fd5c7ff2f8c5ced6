import { realpath } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { UsageError } from "../errors.js";
import { formatLocation, type Location } from "../ref/location.js";

/**
 * Refuses a copy (or an image that mutate, append or index writes; assemble/write.ts) whose source and
 * destination sit one inside the other's layout folder
 * (`oci:a:v1` to `oci:a/b:v1`, `oci:a/blobs/x:v1`, `oci-archive:a/x.tar`, or `oci:a/b:v1` to `oci:a:v1`):
 * a layout's folder is the layout's (oci-layout, index.json, blobs/), and a layout written inside
 * another ends up in its blobs tree or beside it, where tools that walk, pack or clean the outer one
 * take it along or trip on it. skopeo writes it; dray says so before anything moves (exit 2).
 * The same layout on both sides (a new tag) is fine. Paths are compared as they resolve: `./a/../a/b`
 * and a symbolic link to `a` are inside `a`.
 */
export async function checkNotNested(src: Location, dst: Location): Promise<void> {
  const from = await placeOf(src);
  const to = await placeOf(dst);
  if (from === undefined || to === undefined || from === to) return; // the same layout: a new tag
  if (src.transport === "oci" && isInside(from, to))
    throw new UsageError(
      `the destination ${formatLocation(dst)} is inside the source layout's folder ${src.path}: a layout folder holds only that layout; write it beside, not inside`,
    );
  if (dst.transport === "oci" && isInside(to, from))
    throw new UsageError(
      `the destination layout ${dst.path} would hold the source ${formatLocation(src)} inside its folder: a layout folder holds only that layout; write it elsewhere`,
    );
}

/** The absolute, link-free path a layout or archive occupies; undefined for a registry or standard input/output. */
async function placeOf(loc: Location): Promise<string | undefined> {
  if (loc.transport === "docker" || loc.path === "-") return undefined;
  return canonical(resolve(loc.path));
}

/** `path` with its links resolved as far as it exists; the part that does not exist yet is kept as written. */
async function canonical(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await canonical(parent), basename(path));
  }
}

/** True when `inner` lies below `outer` (both resolved; the same path is not inside). */
function isInside(outer: string, inner: string): boolean {
  return inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}
