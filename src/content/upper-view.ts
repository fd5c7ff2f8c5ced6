import type { TreePath } from "./paths.js";

/**
 * What the layers above the one being read have decided, as a tree of names
 * only (no bytes): which paths an upper layer already defines, deletes or
 * made opaque. Reading layers from the top down, an entry of a lower layer
 * belongs to the merged filesystem exactly when this view does not hide it,
 * so each layer is read once and memory grows with the number of distinct
 * names, never with their bytes.
 *
 * The rules are the OCI image-spec's "Applying Changesets" and "Whiteouts"
 * (layer.md): an upper entry replaces a lower one at the same path (two
 * directories merge: the upper's attributes, both children); a non-directory
 * hides a lower directory's whole subtree; `.wh.NAME` deletes NAME and its
 * subtree from lower layers only; `.wh..wh..opq` hides every lower child of
 * its directory. A directory that an upper layer only implies (it holds
 * entries but has no entry of its own) takes a lower directory's attributes
 * and replaces a lower non-directory, as in overlayfs: a lower symlink is
 * never followed by an upper entry's name.
 *
 * Decisions of a layer take effect when the layer ends (`endLayer`), because
 * whiteouts apply to lower layers only and may come after their siblings.
 */
interface Node {
  /** `dir` merges with a lower directory; `other` (any non-directory) and `whiteout` hide a lower subtree. */
  kind: "dir" | "other" | "whiteout";
  /** An upper layer had an entry (or whiteout) at this exact path: a lower entry here is hidden. */
  explicit: boolean;
  /** Lower children are hidden (opaque whiteout, or a directory that replaced a lower non-directory). */
  opaque: boolean;
  children?: Map<string, Node>;
}

type Decision =
  | { kind: "entry"; path: TreePath; isDir: boolean; hiddenNonDir: boolean }
  | { kind: "whiteout"; path: TreePath }
  | { kind: "opaque"; path: TreePath };

export class UpperView {
  private readonly root: Node = { kind: "dir", explicit: true, opaque: false };
  private pending: Decision[] = [];
  private count = 0;

  /** Names held (for memory accounting in tests and the README's claim). */
  get size(): number {
    return this.count;
  }

  /**
   * Whether an entry of the layer being read at `path` is part of the merged
   * filesystem. Records the entry so that lower layers see it (at endLayer).
   */
  admit(path: TreePath, isDir: boolean): boolean {
    const visible = this.visible(path, isDir);
    this.pending.push({ kind: "entry", path, isDir, hiddenNonDir: !visible && !isDir });
    return visible;
  }

  /** `.wh.NAME` in the layer being read: NAME is deleted from every lower layer. */
  whiteout(path: TreePath): void {
    this.pending.push({ kind: "whiteout", path });
  }

  /** `.wh..wh..opq` in directory `path` of the layer being read. */
  opaque(path: TreePath): void {
    this.pending.push({ kind: "opaque", path });
  }

  /** Applies the finished layer's entries first, then its whiteouts (they apply to lower layers only). */
  endLayer(): void {
    const decisions = this.pending;
    this.pending = [];
    for (const d of decisions) if (d.kind === "entry") this.recordEntry(d.path, d.isDir, d.hiddenNonDir);
    for (const d of decisions) if (d.kind !== "entry") this.recordWhiteout(d.path, d.kind === "opaque");
  }

  /**
   * Whether a lower layer's entry at `path` (a directory when `isDir`) would
   * be visible, given the layers already ended. Does not record anything.
   */
  visible(path: TreePath, isDir: boolean): boolean {
    if (path.length === 0 || this.root.opaque) return false;
    let node = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      const child = node.children?.get(path[i]!);
      if (!child) return true;
      if (child.kind !== "dir" || child.opaque) return false;
      node = child;
    }
    const last = node.children?.get(path[path.length - 1]!);
    if (!last) return true;
    if (last.explicit) return false;
    // A directory only implied by an upper layer: a lower directory gives it attributes, a lower non-directory is replaced.
    return isDir;
  }

  private child(parent: Node, name: string, make: () => Node): Node {
    parent.children ??= new Map();
    let c = parent.children.get(name);
    if (!c) {
      c = make();
      parent.children.set(name, c);
      this.count++;
    }
    return c;
  }

  /** The node of `path`'s parent, creating implied directories; undefined when an upper layer already hides it. */
  private parentOf(path: TreePath): Node | undefined {
    let node = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      const c = this.child(node, path[i]!, () => ({ kind: "dir", explicit: false, opaque: false }));
      if (c.kind !== "dir") return undefined;
      node = c;
    }
    return node;
  }

  private recordEntry(path: TreePath, isDir: boolean, hiddenNonDir: boolean): void {
    if (path.length === 0) return;
    const parent = this.parentOf(path);
    if (!parent) return;
    const node = this.child(parent, path[path.length - 1]!, () => ({ kind: isDir ? "dir" : "other", explicit: true, opaque: false }));
    node.explicit = true;
    // A non-directory below an upper directory replaced a still-lower directory: that one's children are gone too.
    if (hiddenNonDir && node.kind === "dir") node.opaque = true;
  }

  private recordWhiteout(path: TreePath, opaque: boolean): void {
    if (opaque) {
      const dir = this.parentOf([...path, ""]);
      if (dir) dir.opaque = true;
      return;
    }
    if (path.length === 0) return;
    const parent = this.parentOf(path);
    if (!parent) return;
    const node = this.child(parent, path[path.length - 1]!, () => ({ kind: "whiteout", explicit: true, opaque: true }));
    node.explicit = true;
    // Below an upper directory, the whiteout still deleted what the lower layers had there.
    node.opaque = true;
  }
}
