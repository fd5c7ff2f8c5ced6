// Layer entry names are untrusted: a layer may say `../x`, `/x`, `a/../../x`
// or carry a NUL through a PAX header. dray normalises what stays inside
// the image root (a leading `/` or `./`, `.` components, `a/..` pairs, as
// tar and docker's archive code do) and refuses what would leave it, so no
// name outside the tree ever reaches an output.
import { IntegrityError } from "../errors.js";

/** A path inside the image root: components without `.`, `..`, `/` or NUL; [] is the root itself. */
export type TreePath = readonly string[];

const WHITEOUT_PREFIX = ".wh.";
/** Hides every lower child of the directory it sits in (OCI image-spec, layer.md "Opaque Whiteout"). */
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

export function unsafeName(message: string, where: string): IntegrityError {
  return new IntegrityError(`${message} (${where})`, { code: "E_UNSAFE_INPUT", where });
}

/**
 * The components of `name` relative to the image root. A leading `/` is the
 * image root (layers written by some tools carry absolute names); `..` that
 * would climb above the root is refused (E_UNSAFE_INPUT, exit 5), as is a
 * NUL byte. `where` names the layer in the message.
 */
export function normalisePath(name: string, where: string): string[] {
  if (name.includes("\0")) throw unsafeName(`layer entry name ${JSON.stringify(name)} contains a NUL byte`, where);
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) throw unsafeName(`layer entry ${JSON.stringify(name)} points outside the image root`, where);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/** `a/b/c` for output and messages (the root is ""). */
export function joinPath(path: TreePath): string {
  return path.join("/");
}

export type WhiteoutKind = { kind: "opaque"; dir: TreePath } | { kind: "whiteout"; target: TreePath } | { kind: "reserved" };

/**
 * What a `.wh.` entry means: the opaque marker, a whiteout of its sibling, or
 * another `.wh..wh.` name (aufs's hard-link directories `.wh..wh.plnk`,
 * `.wh..wh.aufs`), which carries no change and is dropped.
 */
export function whiteoutOf(path: TreePath): WhiteoutKind | undefined {
  const base = path[path.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return undefined;
  const dir = path.slice(0, -1);
  if (base === OPAQUE_WHITEOUT) return { kind: "opaque", dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: "reserved" };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === "" || name === "." || name === "..") return { kind: "reserved" };
  return { kind: "whiteout", target: [...dir, name] };
}
