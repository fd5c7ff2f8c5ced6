// One file of an image's merged filesystem, read from the top layer down and
// stopping at the first layer that holds or hides it; and the merged tree's
// listing. Symlinks are resolved inside the image root, never on this machine.
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IntegrityError, NotFoundError, UnsupportedError, UsageError } from "../errors.js";
import type { Location } from "../ref/location.js";
import { printable } from "../ref/reference.js";
import { openSource } from "../transport/index.js";
import type { ImageSource } from "../transport/types.js";
import type { ContentOptions } from "./export.js";
import { imageLayers, openLayerTar, tarEntries, type LayerRef, type TarEntry, type TarHeader } from "./layers.js";
import { walkMerged } from "./merge.js";
import { joinPath, normalisePath, whiteoutOf, type TreePath } from "./paths.js";
import { UpperView } from "./upper-view.js";
import { defined } from "../defined.js";

/** Symlinks followed for one path before it counts as a loop (Linux's MAXSYMLINKS is 40). */
export const MAX_SYMLINK_HOPS = 40;

/** Where a lookup goes next: the bytes were written, or a link sends it elsewhere. */
type Step = { kind: "done" } | { kind: "path"; path: string[] } | { kind: "hardlink"; path: string[]; layer: number; before: number };

function isPrefix(prefix: TreePath, path: TreePath): boolean {
  return prefix.length < path.length && prefix.every((c, i) => c === path[i]);
}

function samePath(a: TreePath, b: TreePath): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/**
 * A symlink's target as a path inside the root: absolute from the root, relative from the link's folder. `..`
 * at the root stays at the root (`/..` is `/`), as the kernel resolves it in a chroot or a container and as
 * `docker cp` and umoci do: `/rel -> ../etc/hostname` is /etc/hostname. The result never leaves the image.
 */
function resolveSymlink(linkDir: TreePath, target: string): string[] {
  const parts = target.startsWith("/") ? [] : [...linkDir];
  for (const c of target.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return parts;
}

/** A path for a message: names come from the image, so they are quoted when they hold control characters. */
function shown(path: TreePath): string {
  return printable(`/${joinPath(path)}`);
}

class Cat {
  constructor(
    private readonly source: ImageSource,
    private readonly layers: readonly LayerRef[],
    private readonly out: Writable,
    private readonly signal: AbortSignal | undefined,
    /** The path was given with a trailing `/`: only a folder (or a link to one) may answer it, as in a shell. */
    private readonly dirOnly = false,
  ) {}

  async run(start: string[]): Promise<void> {
    let step: Step = { kind: "path", path: start };
    for (let hops = 0; step.kind !== "done"; hops++) {
      if (hops > MAX_SYMLINK_HOPS)
        throw new IntegrityError(`too many levels of symbolic links resolving ${shown(start)}`, { code: "E_UNSAFE_INPUT" });
      step =
        step.kind === "path"
          ? await this.lookup(step.path, this.layers.length - 1, Infinity)
          : await this.lookup(step.path, step.layer, step.before);
    }
  }

  /** Reads layers from `top` down (in layer `top`, only entries before `before`) until one holds or hides `path`. */
  async lookup(path: string[], top: number, before: number): Promise<Step> {
    const view = new UpperView();
    for (let k = top; k >= 0; k--) {
      const step = await this.searchLayer(this.layers[k]!, path, view, k === top ? before : Infinity);
      if (step) return step;
      view.endLayer();
      if (!view.visible(path, false) && !view.visible(path, true))
        throw new NotFoundError(`${shown(path)} was deleted by ${this.layers[k]!.where}`);
    }
    throw new NotFoundError(`${shown(path)} is not in the image`);
  }

  private async searchLayer(layer: LayerRef, path: string[], view: UpperView, before: number): Promise<Step | undefined> {
    let ordinal = 0;
    let step: Step | undefined;
    for await (const entry of tarEntries(await openLayerTar(this.source, layer, this.signal))) {
      const at = ordinal++;
      // Once found, the rest of the layer is read only to check its digest.
      if (step || at >= before) {
        entry.resume();
        continue;
      }
      step = await this.consider(entry, at, layer, path, view);
    }
    return step;
  }

  private async consider(entry: TarEntry, ordinal: number, layer: LayerRef, path: string[], view: UpperView): Promise<Step | undefined> {
    const h = entry.header as TarHeader;
    const p = normalisePath(h.name, layer.where);
    const wo = whiteoutOf(p);
    if (p.length === 0 || wo) {
      entry.resume();
      if (wo?.kind === "whiteout") view.whiteout(wo.target);
      else if (wo?.kind === "opaque") view.opaque(wo.dir);
      return undefined;
    }
    const exact = samePath(p, path);
    const above = isPrefix(p, path);
    const isDir = h.type === "directory";
    const visible = view.admit(p, isDir);
    if (!visible || !(exact || above) || isDir) {
      entry.resume();
      if (visible && exact && isDir) throw new UsageError(`${shown(path)} is a directory (dray cat --list lists it)`);
      return undefined;
    }
    if (h.type !== "file" && h.type !== "contiguous-file") entry.resume();
    if (exact && this.dirOnly && h.type !== "symlink") {
      entry.resume();
      throw notADirectory(path, h.type === "link" ? "file" : (h.type ?? "file"));
    }
    if (h.type === "symlink") return { kind: "path", path: [...resolveSymlink(p.slice(0, -1), h.linkname ?? ""), ...path.slice(p.length)] };
    if (h.type === "link") {
      const target = normalisePath(h.linkname ?? "", layer.where);
      return { kind: "hardlink", path: [...target, ...path.slice(p.length)], layer: layer.index, before: ordinal };
    }
    if (above) throw new NotFoundError(`${shown(path)}: ${shown(p)} is not a directory`);
    if (h.type !== "file" && h.type !== "contiguous-file")
      throw new UnsupportedError(`${shown(path)} is a ${h.type ?? "special file"}, not a regular file`);
    await pipeline(entry, this.out, { end: false });
    return { kind: "done" };
  }
}

/**
 * Writes the bytes of the file at `path` in the image's merged filesystem to
 * `out` (not ended). Layers are read from the top down and reading stops
 * with the layer that holds or hides the file (that layer is read to its end
 * so its digest is checked). E_NOT_FOUND when a layer deleted it or none has
 * it; E_UNSAFE_INPUT for a loop of symlinks (one leading above the root stays at the root).
 */
export async function catFile(loc: Location, path: string, out: Writable, opts: ContentOptions = {}): Promise<void> {
  const start = userPath(path);
  const source = await openSource(loc, opts.transport ?? {});
  try {
    const { layers } = await imageLayers(source, opts.platform, opts.signal);
    await new Cat(source, layers, out, opts.signal, path.endsWith("/")).run(start);
  } finally {
    await source.close();
  }
}

/** `PATH/` naming something that is not a folder: the shell's ENOTDIR, in words (exit 2). */
function notADirectory(path: TreePath, type: string): UsageError {
  const kind = type === "contiguous-file" ? "file" : type;
  return new UsageError(`${shown(path)}/: not a directory (${shown(path)} is a ${kind}; drop the trailing /)`);
}

/**
 * Why `path` is missing from the merged tree, in cat's words: "was deleted by
 * … layer N" when a layer's whiteout hid it, else "is not in the image"
 * (what `cat --list PATH` says too, so the two commands agree).
 */
async function missing(source: ImageSource, layers: readonly LayerRef[], path: string[], signal: AbortSignal | undefined): Promise<Error> {
  const nowhere = new Writable({ write: (_chunk, _enc, done) => done() });
  try {
    await new Cat(source, layers, nowhere, signal).lookup(path, layers.length - 1, Infinity);
  } catch (err) {
    if (err instanceof NotFoundError) return err;
  }
  return new NotFoundError(`${shown(path)} is not in the image`);
}

/** A path given on the command line: `/etc/os-release` or `etc/os-release`, always inside the root. */
function userPath(path: string): string[] {
  const parts: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  if (parts.length === 0) throw new UsageError(`"${path}" is the image root: dray cat --list lists it`);
  return parts;
}

/** One entry of `dray cat --list`. */
export interface ListedEntry {
  path: string;
  type: "file" | "directory" | "symlink" | "hardlink" | "char-device" | "block-device" | "fifo";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  /** Symlinks: the target as stored; hard links: the path holding the content. */
  linkname?: string;
}

function listedType(h: TarHeader, hardlink: boolean): ListedEntry["type"] {
  if (hardlink) return "hardlink";
  switch (h.type) {
    case "directory":
      return "directory";
    case "symlink":
      return "symlink";
    case "character-device":
      return "char-device";
    case "block-device":
      return "block-device";
    case "fifo":
      return "fifo";
    default:
      return "file";
  }
}

/**
 * The merged filesystem's entries (under `under` when given), sorted by path.
 * Held in memory as names and attributes only, never bytes. E_NOT_FOUND when
 * `under` is in no layer's result.
 */
export async function listFiles(loc: Location, under: string | undefined, opts: ContentOptions = {}): Promise<ListedEntry[]> {
  const prefix = under === undefined ? [] : userPathOrRoot(under);
  const list: ListedEntry[] = [];
  const source = await openSource(loc, opts.transport ?? {});
  try {
    const { layers } = await imageLayers(source, opts.platform, opts.signal);
    await walkMerged(
      source,
      layers,
      {
        entry: async (e) => {
          if (e.body) e.body.resume();
          const parts = e.path.split("/");
          if (!samePath(parts, prefix) && !isPrefix(prefix, parts)) return;
          const h = e.header;
          const hardlink = e.linkTarget !== undefined;
          const linkname = hardlink ? `/${e.linkTarget!}` : h.type === "symlink" ? (h.linkname ?? "") : undefined;
          list.push({
            path: `/${e.path}`,
            type: listedType(h, hardlink),
            mode: (h.mode ?? 0) & 0o7777,
            uid: h.uid ?? 0,
            gid: h.gid ?? 0,
            size: e.body ? (h.size ?? 0) : 0,
            mtime: (h.mtime ?? new Date(0)).toISOString(),
            ...defined({ linkname }),
          });
        },
        ...defined({ notice: opts.notice }),
      },
      opts.signal,
    );
    if (prefix.length > 0 && list.length === 0) throw await missing(source, layers, prefix, opts.signal);
  } finally {
    await source.close();
  }
  // `ls FILE/` is ENOTDIR in a shell: a trailing slash asks for a folder.
  const only = list.length === 1 ? list[0]! : undefined;
  if (under?.endsWith("/") && only && only.type !== "directory" && only.path === `/${joinPath(prefix)}`)
    throw notADirectory(prefix, only.type === "hardlink" ? "file" : only.type);
  return list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function userPathOrRoot(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}
