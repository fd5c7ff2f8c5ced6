// The merge against a reference model: random stacks of layers (files,
// directories, symlinks, hard links, whiteouts, opaque directories, implied
// parents) are written as a real OCI layout and exported by dray; the tar it
// writes must hold exactly what applying the layers bottom-up gives, as the
// OCI image-spec's "Applying Changesets" and "Whiteouts" (layer.md) describe.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as fc from "fast-check";
import * as tar from "tar-stream";
import { exportFilesystem } from "../../src/content/export.js";
import { parseLocation } from "../../src/ref/location.js";
import { buildImage, writeOciLayout, type FixtureFile } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";

type Node = { kind: "dir" } | { kind: "file"; content: string } | { kind: "symlink"; target: string };
type Tree = Map<string, Node>;

type Op =
  | { op: "file"; path: string; content: string }
  | { op: "dir"; path: string }
  | { op: "symlink"; path: string; target: string }
  | { op: "link"; path: string; target: string }
  | { op: "whiteout"; path: string }
  | { op: "opaque"; path: string };

const parentsOf = (p: string): string[] =>
  p
    .split("/")
    .slice(0, -1)
    .map((_, i, parts) => parts.slice(0, i + 1).join("/"));
const under = (p: string, root: string): boolean => p.startsWith(`${root}/`);

function removeTree(tree: Tree, root: string, self: boolean): void {
  for (const k of [...tree.keys()]) if ((self && k === root) || under(k, root)) tree.delete(k);
}

/** Bottom-up application: whiteouts and opaque markers first (they apply to lower layers only), then entries in order. */
function referenceMerge(layers: Op[][]): Tree {
  const tree: Tree = new Map();
  for (const ops of layers) {
    const implyDirs = (dirs: string[]): void => dirs.forEach((q) => tree.get(q)?.kind !== "dir" && tree.delete(q));
    // A marker's own folder is a directory of this layer too: it replaces a lower non-directory.
    for (const o of ops) if (o.op === "opaque") implyDirs([...parentsOf(o.path), o.path]);
    for (const o of ops) if (o.op === "whiteout") implyDirs(parentsOf(o.path));
    for (const o of ops) if (o.op === "opaque") removeTree(tree, o.path, false);
    for (const o of ops) if (o.op === "whiteout") removeTree(tree, o.path, true);
    for (const o of ops) {
      if (o.op === "whiteout" || o.op === "opaque") continue;
      // A non-directory where a parent must be is replaced by an implied directory (overlayfs; a symlink is never followed).
      for (const q of parentsOf(o.path)) if (tree.has(q) && tree.get(q)!.kind !== "dir") tree.delete(q);
      const existing = tree.get(o.path);
      const linked = o.op === "link" ? tree.get(o.target) : undefined;
      if (o.op === "dir") {
        // Two directories merge (an implied one too): the children stay.
        if (existing && existing.kind !== "dir") tree.delete(o.path);
        tree.set(o.path, { kind: "dir" });
        continue;
      }
      removeTree(tree, o.path, true);
      if (o.op === "file") tree.set(o.path, { kind: "file", content: o.content });
      else if (o.op === "symlink") tree.set(o.path, { kind: "symlink", target: o.target });
      else if (linked && linked.kind !== "dir") tree.set(o.path, linked);
      // a hard link to nothing (or to a directory) is left out, and still replaced what was there
    }
  }
  return tree;
}

function toFixture(ops: Op[]): FixtureFile[] {
  return ops.map((o): FixtureFile => {
    const base = o.path.split("/").pop()!;
    const dir = o.path.slice(0, o.path.length - base.length);
    switch (o.op) {
      case "file":
        return { path: o.path, content: o.content };
      case "dir":
        return { path: `${o.path}/`, type: "directory" };
      case "symlink":
        return { path: o.path, type: "symlink", linkname: o.target };
      case "link":
        return { path: o.path, type: "link", linkname: o.target };
      case "whiteout":
        return { path: `${dir}.wh.${base}`, content: "" };
      case "opaque":
        return { path: `${o.path}/.wh..wh..opq`, content: "" };
    }
  });
}

async function readExport(bytes: Buffer): Promise<Tree> {
  const tree: Tree = new Map();
  const extract = tar.extract();
  const done = (async () => {
    for await (const e of extract) {
      const name = e.header.name.replace(/\/$/, "");
      assert.ok(
        !name.split("/").some((c) => c.startsWith(".wh.") || c === ".." || c === ""),
        `no whiteout or unsafe name in the output: ${name}`,
      );
      assert.ok(!tree.has(name) || e.header.type === "directory", `one entry per path: ${name}`);
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      if (e.header.type === "directory") tree.set(name, { kind: "dir" });
      else if (e.header.type === "symlink") tree.set(name, { kind: "symlink", target: e.header.linkname });
      else if (e.header.type === "link") {
        const target = tree.get(e.header.linkname);
        assert.ok(target && target.kind !== "dir", `hard link ${name} follows its target ${e.header.linkname}`);
        tree.set(name, target);
      } else tree.set(name, { kind: "file", content: Buffer.concat(chunks).toString() });
    }
  })();
  extract.end(bytes);
  await done;
  return tree;
}

const component = fc.constantFrom("a", "b", "c");
const pathArb = fc.array(component, { minLength: 1, maxLength: 3 }).map((c) => c.join("/"));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("file" as const), path: pathArb, content: fc.string({ maxLength: 4 }) }),
  fc.record({ op: fc.constant("dir" as const), path: pathArb }),
  fc.record({ op: fc.constant("symlink" as const), path: pathArb, target: fc.constantFrom("a", "/etc", "../x") }),
  fc.record({ op: fc.constant("link" as const), path: pathArb, target: pathArb }),
  fc.record({ op: fc.constant("whiteout" as const), path: pathArb }),
  fc.record({ op: fc.constant("opaque" as const), path: pathArb }),
);

/**
 * One layer as a tool writes it: each path once, nothing below a
 * non-directory of the same layer, hard links after the entries they may name
 * and never to themselves or below themselves (tar cannot apply those).
 */
function wellFormed(ops: Op[]): Op[] {
  const seen = new Map<string, Op>();
  for (const o of ops) {
    const key = o.op === "whiteout" ? `wh:${o.path}` : o.op === "opaque" ? `opq:${o.path}` : o.path;
    if (!seen.has(key)) seen.set(key, o);
  }
  const entries = [...seen.values()];
  const nonDirs = new Set(entries.filter((o) => o.op === "file" || o.op === "symlink" || o.op === "link").map((o) => o.path));
  const selfLink = (o: Op): boolean => o.op === "link" && (o.target === o.path || under(o.target, o.path));
  const ok = entries.filter(
    (o) => !parentsOf(o.path).some((q) => nonDirs.has(q)) && !(o.op === "opaque" && nonDirs.has(o.path)) && !selfLink(o),
  );
  return [...ok.filter((o) => o.op !== "link"), ...ok.filter((o) => o.op === "link")];
}

const stackArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }).map(wellFormed), { minLength: 1, maxLength: 4 });

/** Exports `layers` from a fresh layout and compares the tar with the reference model. */
async function exportMatchesModel(layout: string, layers: Op[][], compression: "gzip" | "none"): Promise<void> {
  const image = await buildImage({ layerFiles: layers.map(toFixture), compression });
  await writeOciLayout(layout, image, "t");
  const chunks: Buffer[] = [];
  for await (const c of exportFilesystem(parseLocation(`oci:${layout}:t`))) chunks.push(c as Buffer);
  const got = await readExport(Buffer.concat(chunks));
  assert.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries([...referenceMerge(layers)].sort()));
}

describe("merge: random layer stacks against a reference model", () => {
  it("dray export gives exactly the bottom-up application of the layers", async () => {
    const dir = makeTempDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(stackArb, async (layers) => {
        run++;
        await exportMatchesModel(join(dir, `l${run}`), layers, run % 2 === 0 ? "gzip" : "none");
      }),
      { numRuns: Number(process.env.DRAY_FUZZ_RUNS ?? 150) },
    );
  });

  it("found by the fuzzer (seed -1863807228): a link to a link of a lower layer that, later in that layer, replaced the directory its target was in", async () => {
    const layers: Op[][] = [
      [
        { op: "file", path: "a/b", content: "" },
        { op: "file", path: "b", content: "" },
      ],
      [
        { op: "link", path: "b", target: "a/b" },
        { op: "link", path: "a", target: "b" },
      ],
      [{ op: "link", path: "b", target: "a" }],
    ];
    await exportMatchesModel(join(makeTempDir(), "l"), layers, "none");
  });

  it("found by the fuzzer: a link to a link made earlier in its layer, before a later entry of the layer turned that link's target into a folder", async () => {
    const layers: Op[][] = [
      [{ op: "file", path: "a", content: "" }],
      [
        { op: "link", path: "b", target: "a" },
        { op: "link", path: "a/a", target: "b" },
      ],
    ];
    await exportMatchesModel(join(makeTempDir(), "l"), layers, "none");
  });

  it("found by the fuzzer: two links of a layer to its file that an upper layer deletes both keep the content", async () => {
    const layers: Op[][] = [
      [
        { op: "file", path: "a", content: "" },
        { op: "link", path: "b", target: "a" },
        { op: "link", path: "c/a", target: "a" },
      ],
      [{ op: "whiteout", path: "a" }],
    ];
    await exportMatchesModel(join(makeTempDir(), "l"), layers, "none");
  });
});
