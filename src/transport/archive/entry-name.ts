// Names inside a tar archive, as untrusted text. dray never extracts an
// archive, but names still become lookups (manifest.json "Layers", blob
// paths), so every name is normalised once and anything that could mean
// "outside the archive" is refused rather than silently cleaned.
import { posix } from "node:path";
import { IntegrityError } from "../../errors.js";

function unsafe(message: string, where: string): IntegrityError {
  return new IntegrityError(`${message} in ${where}`, { code: "E_UNSAFE_INPUT", where });
}

/**
 * The canonical form of an entry name: no leading `./`, no empty or `.`
 * components, no trailing slash. Absolute names, `..` components, NUL bytes
 * and backslashes (a Windows path in disguise) throw E_UNSAFE_INPUT.
 */
export function normaliseEntryName(raw: string, where: string): string {
  const shown = JSON.stringify(raw.length > 120 ? `${raw.slice(0, 117)}...` : raw);
  if (raw.includes("\0")) throw unsafe(`tar entry name ${shown} contains a NUL byte`, where);
  if (raw.includes("\\")) throw unsafe(`tar entry name ${shown} contains a backslash`, where);
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw)) throw unsafe(`tar entry name ${shown} is an absolute path`, where);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw unsafe(`tar entry name ${shown} contains ".."`, where);
  return parts.join("/");
}

/**
 * Where a symlink entry named `name` with target `linkname` points, as an
 * archive-relative name. Targets that are absolute or climb above the
 * archive root throw E_UNSAFE_INPUT: inside a docker-archive a link like
 * `../abc.tar` is normal, `/etc/passwd` or `../../x` is an attack.
 */
export function resolveSymlinkTarget(name: string, linkname: string, where: string): string {
  const shown = JSON.stringify(linkname.length > 120 ? `${linkname.slice(0, 117)}...` : linkname);
  if (linkname.includes("\0") || linkname.includes("\\")) throw unsafe(`symlink ${name} has an invalid target ${shown}`, where);
  if (linkname.startsWith("/")) throw unsafe(`symlink ${name} points to the absolute path ${shown}`, where);
  const joined = posix.normalize(posix.join(posix.dirname(name), linkname));
  if (joined === ".." || joined.startsWith("../")) throw unsafe(`symlink ${name} points outside the archive (${shown})`, where);
  return normaliseEntryName(joined, where);
}

/** A hard link's target is a name relative to the archive root; it gets the same checks as any entry name. */
export function resolveHardlinkTarget(name: string, linkname: string, where: string): string {
  try {
    return normaliseEntryName(linkname, where);
  } catch (err) {
    if (err instanceof IntegrityError) throw unsafe(`hard link ${name} points outside the archive (${JSON.stringify(linkname)})`, where);
    throw err;
  }
}
