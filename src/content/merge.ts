// The merged root filesystem of an image, produced by reading its layers
// once each, from the top layer down. An entry is part of the result exactly
// when no upper layer replaced, deleted or hid it (UpperView); its body
// streams straight from the layer into the visitor. Memory holds names only:
// the view's tree of every distinct path, the current layer's names, and the
// hard links still waiting for the lower layer that holds their content.
import { IntegrityError } from "../errors.js";
import { printable } from "../ref/reference.js";
import { openLayerTar, tarEntries, type LayerRef, type TarEntry, type TarHeader } from "./layers.js";
import { joinPath, normalisePath, unsafeName, whiteoutOf } from "./paths.js";
import { UpperView } from "./upper-view.js";
import type { ImageSource } from "../transport/types.js";

/** One entry of the merged filesystem, in the order the visitor must write them. */
export interface MergedEntry {
  /** Path inside the image root: components joined by `/`, no leading or trailing slash. */
  path: string;
  /** The layer's header (type, mode, owners, times, PAX records); its `name` and, for hard links, `linkname` are the layer's own and not to be written. */
  header: TarHeader;
  /** Hard links: the path of an entry written earlier that holds the content. */
  linkTarget?: string;
  /** Regular files: the bytes, which the visitor MUST read to the end before `entry` resolves. */
  body?: TarEntry;
}

export interface MergeVisitor {
  entry(e: MergedEntry): Promise<void>;
  /** Told about content dropped for a reason the user should see (a hard link whose target no layer has). */
  notice?(message: string): void;
}

interface LinkName {
  path: string;
  header: TarHeader;
  /** The layer whose entry decides its content (0 = bottom): its own, or the lower layer's link it resolved through. */
  layer: number;
}

/** What became of an earlier entry of the layer being read, for hard links that name it. */
type SeenInLayer = { emittedAs: string } | { resolved: LinkResolution } | { skippedOrdinal: number; isDir: boolean };

/** Where a hard link's content is, decided at the link's place in its layer. */
type LinkResolution =
  { kind: "lower"; target: string } | { kind: "emitted"; path: string } | { kind: "late"; ordinal: number } | { kind: "none" };

function isRegularFile(h: TarHeader): boolean {
  return h.type === "file" || h.type === "contiguous-file" || h.type === undefined;
}

function checkLinkname(h: TarHeader, where: string): void {
  if (h.linkname?.includes("\0")) throw unsafeName(`link target of ${JSON.stringify(h.name)} contains a NUL byte`, where);
}

/**
 * Walks the merged filesystem of `layers` (bottom layer first, as the
 * manifest lists them), calling the visitor once per resulting entry. Each
 * layer is read once, top layer first; a layer is read a second time only
 * when one of its hard links names a file of the same layer that an upper
 * layer replaced (the link keeps the old content, which streamed past before
 * the link was seen).
 *
 * Order of entries: top layer first, so a directory's entry may follow
 * entries inside it, or precede files a lower layer puts into it (export
 * holds directory entries to the end for that); a hard link always follows
 * the entry that holds its content.
 */
export async function walkMerged(
  source: ImageSource,
  layers: readonly LayerRef[],
  visitor: MergeVisitor,
  signal?: AbortSignal,
): Promise<void> {
  const walker = new MergeWalker(source, visitor, signal);
  for (const layer of [...layers].reverse()) await walker.readLayer(layer);
  walker.finish();
}

class MergeWalker {
  private readonly view = new UpperView();
  /** Target path → hard links (of this or upper layers) waiting for the lower entry that holds their content. */
  private readonly pending = new Map<string, LinkName[]>();
  private seen = new Map<string, SeenInLayer>();
  private late: Array<{ ordinal: number; names: LinkName[] }> = [];
  /** Paths this layer deleted for lower layers; applied to waiting hard links when the layer ends, as whiteouts apply regardless of their place in the tar. */
  private deletions: Array<{ key: string; self: boolean; whiteout: boolean }> = [];
  /** Directories this layer's names imply (the parents of its entries and markers): a hard link waiting for one of them has no file. */
  private impliedDirs = new Set<string>();

  constructor(
    private readonly source: ImageSource,
    private readonly visitor: MergeVisitor,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async readLayer(layer: LayerRef): Promise<void> {
    this.seen = new Map();
    this.late = [];
    this.deletions = [];
    this.impliedDirs = new Set();
    let ordinal = 0;
    for await (const entry of tarEntries(await openLayerTar(this.source, layer, this.signal))) {
      await this.onEntry(entry, ordinal++, layer);
    }
    this.view.endLayer();
    // Links of upper layers see this layer whole; links of this layer saw only what came before them (checked in resolveLinks), and its whiteouts, which apply first.
    const upper = (n: LinkName): boolean => n.layer > layer.index;
    if (this.pending.size > 0) for (const d of this.deletions) this.dropPending(d.key, d.self, d.whiteout ? () => true : upper);
    for (const dir of this.impliedDirs) this.noticeDirectoryLinks(this.takeWhere(dir, upper), dir);
    if (this.late.length > 0) await this.copyLate(layer);
  }

  finish(): void {
    for (const [target, names] of this.pending) {
      for (const n of names)
        this.visitor.notice?.(`hard link ${printable(n.path)} points to ${printable(target)}, which no layer holds: left out`);
    }
    this.pending.clear();
  }

  private async onEntry(entry: TarEntry, ordinal: number, layer: LayerRef): Promise<void> {
    const header = entry.header as TarHeader;
    const path = normalisePath(header.name, layer.where);
    const wo = whiteoutOf(path);
    this.noteParents(path);
    if (path.length === 0 || wo) {
      entry.resume();
      if (wo?.kind === "whiteout") this.whiteout(joinPath(wo.target), wo.target);
      else if (wo?.kind === "opaque") {
        this.view.opaque(wo.dir);
        this.deletions.push({ key: joinPath(wo.dir), self: false, whiteout: true });
      }
      return;
    }
    checkLinkname(header, layer.where);
    const key = joinPath(path);
    const isDir = header.type === "directory";
    const visible = this.view.admit(path, isDir);
    // Links of this layer waiting for `key` named the version below: this later entry is not theirs.
    const waiting = this.takeWhere(key, (n) => n.layer > layer.index);
    if (!isDir) this.deletions.push({ key, self: false, whiteout: false });
    if (header.type === "link") {
      entry.resume();
      const target = joinPath(normalisePath(header.linkname ?? "", layer.where));
      // Upper links waiting for `key` share what this link names at its place in this layer: they take its layer, so
      // this layer's later entries (which replace paths after the link was made) do not take their content away.
      const riders = waiting.map((n) => ({ ...n, layer: layer.index }));
      const names = visible ? [{ path: key, header, layer: layer.index }, ...riders] : riders;
      // Resolved before the link itself is recorded (a link to its own name means the version below it), and kept:
      // a later link to this one shares what it named here, whatever this layer replaces after it.
      const resolved = this.resolve(target);
      this.seen.set(key, { resolved });
      if (names.length > 0) await this.attach(names, resolved, target);
      return;
    }
    if (visible) {
      // A directory is never a hard link's content (link(2) refuses it).
      this.seen.set(key, isDir ? { skippedOrdinal: ordinal, isDir } : { emittedAs: key });
      await this.emit(key, header, entry);
      if (isDir) this.noticeDirectoryLinks(waiting, key);
      else await this.emitLinks(waiting, key);
      return;
    }
    if (waiting.length > 0 && !isDir) {
      // An upper layer replaced this version, but hard links above still share it: it lives on under the first link's name.
      const [first, ...rest] = waiting as [LinkName, ...LinkName[]];
      this.seen.set(key, { emittedAs: first.path });
      await this.emit(first.path, header, entry);
      await this.emitLinks(rest, first.path);
      return;
    }
    this.noticeDirectoryLinks(waiting, key);
    this.seen.set(key, { skippedOrdinal: ordinal, isDir });
    entry.resume();
  }

  private noteParents(path: readonly string[]): void {
    let prefix = "";
    for (let i = 0; i < path.length - 1; i++) {
      prefix = i === 0 ? path[0]! : `${prefix}/${path[i]!}`;
      this.impliedDirs.add(prefix);
    }
  }

  private noticeDirectoryLinks(names: readonly LinkName[], key: string): void {
    for (const n of names) this.visitor.notice?.(`hard link ${printable(n.path)} points to the directory ${printable(key)}: left out`);
  }

  private whiteout(key: string, path: readonly string[]): void {
    this.view.whiteout(path);
    this.deletions.push({ key, self: true, whiteout: true });
  }

  /**
   * Hard links of upper layers waiting for `key` (with `self`) or for a path
   * below it: a whiteout, an opaque directory or a non-directory of this layer
   * deleted what they name before they were made, so they have no content.
   */
  private dropPending(key: string, self: boolean, which: (n: LinkName) => boolean): void {
    const below = `${key}/`;
    for (const target of [...this.pending.keys()]) {
      if (!(self && target === key) && !(key === "" || target.startsWith(below))) continue;
      for (const n of this.takeWhere(target, which))
        this.visitor.notice?.(`hard link ${printable(n.path)} points to ${printable(target)}, which a lower layer deleted: left out`);
    }
  }

  /** Removes and returns the links waiting for `key` that `which` selects. */
  private takeWhere(key: string, which: (n: LinkName) => boolean): LinkName[] {
    const waiting = this.pending.get(key);
    if (!waiting) return [];
    const taken = waiting.filter(which);
    const kept = waiting.filter((n) => !which(n));
    if (kept.length > 0) this.pending.set(key, kept);
    else this.pending.delete(key);
    return taken;
  }

  /** Whether an earlier entry of this layer made `key` a directory or put a non-directory above it, so it holds no file now. */
  private goneInLayer(key: string): boolean {
    if (this.impliedDirs.has(key)) return true;
    const parts = key.split("/");
    let prefix = "";
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = i === 0 ? parts[0]! : `${prefix}/${parts[i]!}`;
      const s = this.seen.get(prefix);
      if (s && !("isDir" in s && s.isDir)) return true;
    }
    return false;
  }

  /** Where the content of `target` is, as the layer being read sees it at this point (earlier in this layer, else lower). */
  private resolve(target: string): LinkResolution {
    const s = this.seen.get(target);
    if (!s) return this.goneInLayer(target) ? { kind: "none" } : { kind: "lower", target };
    if ("resolved" in s) return s.resolved;
    if ("emittedAs" in s) return { kind: "emitted", path: s.emittedAs };
    return s.isDir ? { kind: "none" } : { kind: "late", ordinal: s.skippedOrdinal };
  }

  /** Hard links `names` share the content `resolved` names. */
  private async attach(names: LinkName[], resolved: LinkResolution, target: string): Promise<void> {
    switch (resolved.kind) {
      case "lower": {
        const list = this.pending.get(resolved.target);
        if (list) list.push(...names);
        else this.pending.set(resolved.target, names);
        return;
      }
      case "emitted":
        return this.emitLinks(names, resolved.path);
      case "late":
        this.late.push({ ordinal: resolved.ordinal, names });
        return;
      case "none":
        for (const n of names)
          this.visitor.notice?.(`hard link ${printable(n.path)} points to ${printable(target)}, which is not a file: left out`);
    }
  }

  private async emit(path: string, header: TarHeader, entry: TarEntry): Promise<void> {
    if (isRegularFile(header)) {
      await this.visitor.entry({ path, header, body: entry });
      return;
    }
    entry.resume();
    await this.visitor.entry({ path, header });
  }

  private async emitLinks(names: readonly LinkName[], target: string): Promise<void> {
    for (const n of names) await this.visitor.entry({ path: n.path, header: n.header, linkTarget: target });
  }

  /** Second read of a layer: files that upper layers replaced but hard links of this layer still share. */
  private async copyLate(layer: LayerRef): Promise<void> {
    // Several links of the layer may share one hidden file: all of them are its names.
    const wanted = new Map<number, LinkName[]>();
    for (const l of this.late) wanted.set(l.ordinal, [...(wanted.get(l.ordinal) ?? []), ...l.names]);
    const last = Math.max(...wanted.keys());
    let ordinal = 0;
    for await (const entry of tarEntries(await openLayerTar(this.source, layer, this.signal))) {
      const names = wanted.get(ordinal);
      if (names) {
        const [first, ...rest] = names as [LinkName, ...LinkName[]];
        await this.emit(first.path, entry.header as TarHeader, entry);
        await this.emitLinks(rest, first.path);
      } else entry.resume();
      // Read on to the end all the same: only the whole layer is checked against its digest.
      ordinal++;
    }
    if (ordinal <= last)
      throw new IntegrityError(`${layer.where} changed between two reads`, { code: "E_MANIFEST_INVALID", where: layer.where });
  }
}
