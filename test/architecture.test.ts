/**
 * The shape of src/ as an import graph (issue 18): layers import downwards
 * only, cli → index.ts → api → sync → referrers → copy/inspect → image → transport → auth → ref → oci
 * → errors, and nothing outside src/transport/ reaches into one transport's own
 * folder (registry/, layout/, archive/): transport/index.ts and
 * transport/repository.ts are the way in. Type-only imports count too, since
 * they tie a layer's words to another's. The registry client itself is not
 * named outside src/transport/ at all, not even through a type computed
 * from an import path that does not say `registry/` (issue 32: sync's prune
 * drove it through `ReturnType<RepositoryFactory["client"]>`). A command's
 * body (`cli/commands/*-run.ts`) calls dray only through the public modules
 * of src/api/ (what src/index.ts re-exports), as crane's commands call only
 * `crane.Copy(…)`, so the library can do all the CLI does.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

/** Lower rank = lower layer. Files at the top of src/ are named by their file name. */
const LAYER: Record<string, number> = {
  /** The CLI sits on the public library (its commands import src/api/, and may import index.ts), never the reverse. */
  cli: 10,
  /** The library's entry: the union of src/api/. */
  "index.ts": 9.5,
  /** The public modules, one per concern (src/api/*.ts): what the library offers, re-exported from the layers below. */
  api: 9,
  sync: 8,
  /** Signatures (verify, the gate of copy and sync): over the referrers discovery, under sync and the CLI. */
  signature: 7.5,
  referrers: 7,
  /** What is inside an image (export, cat, blob, the referrers tree): over inspect's manifest resolution and the transports. */
  content: 7,
  /** Assembling images (index, mutate, append): composed sources written through the copy engine. */
  assemble: 7,
  copy: 6,
  inspect: 6,
  /** Reading an image's own documents (manifest resolution, platforms, configs): what copy, inspect, content and assemble share. */
  image: 5.5,
  transport: 5,
  auth: 4,
  /** A file a flag names (a key, a trust root, credentials), read once, pipes too; it quotes paths as ref does. */
  "input-file.ts": 3.5,
  ref: 3,
  oci: 2,
  "memory.ts": 1,
  "clock.ts": 1,
  "json.ts": 1,
  "defined.ts": 1,
  "errors.ts": 0,
};

const TRANSPORT_FOLDERS = ["transport/registry/", "transport/layout/", "transport/archive/"];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.c?ts$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

/** Relative specifiers of static imports, re-exports, `import("…")` and `import("…").Type`. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(\.{1,2}\/[^"]+)"/g;
  for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

/** `cli/commands/copy.ts` → `cli`; `errors.ts` → `errors.ts`. */
function layerOf(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : path;
}

interface Edge {
  from: string;
  to: string;
}

/** Files of src/ outside src/transport/ whose code (comments aside) names the registry client's class. */
function namingRegistryClient(): string[] {
  return sourceFiles(SRC)
    .map((file) => ({ from: relative(SRC, file), text: readFileSync(file, "utf8") }))
    .filter(({ from }) => !from.startsWith("transport/"))
    .filter(({ text }) => /\bRegistryClient\b/.test(stripComments(text)))
    .map(({ from }) => from);
}

function graph(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    for (const spec of importsOf(readFileSync(file, "utf8"))) {
      const to = relative(SRC, resolve(dirname(file), spec)).replace(/\.c?js$/, (ext) => (ext === ".cjs" ? ".cts" : ".ts"));
      edges.push({ from, to });
    }
  }
  return edges;
}

describe("architecture: the import graph of src/", () => {
  const edges = graph();

  it("finds the imports it checks (the parser is not blind)", () => {
    assert.ok(edges.length > 300, `only ${edges.length} imports found`);
    assert.ok(edges.some((e) => e.from === "cli/main.ts"));
    assert.ok(edges.some((e) => e.from.startsWith("sync/") && e.to.startsWith("transport/")));
  });

  it("every top-level folder and file of src/ has a layer", () => {
    const unknown = [...new Set(edges.flatMap((e) => [layerOf(e.from), layerOf(e.to)]))].filter((l) => LAYER[l] === undefined);
    assert.deepEqual(unknown, []);
  });

  it("layers import downwards only: cli → index.ts → api → sync → referrers → copy/inspect → image → transport → auth → ref → oci → errors", () => {
    const upwards = edges.filter((e) => LAYER[layerOf(e.from)]! < LAYER[layerOf(e.to)]!).map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(upwards, []);
  });

  it("copy and inspect do not import each other", () => {
    const across = edges
      .filter((e) => layerOf(e.from) !== layerOf(e.to) && LAYER[layerOf(e.from)] === LAYER[layerOf(e.to)])
      .map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(across, []);
  });

  it("nothing outside src/transport/ reaches into transport/registry, transport/layout or transport/archive", () => {
    const reaching = edges
      .filter((e) => !e.from.startsWith("transport/") && TRANSPORT_FOLDERS.some((f) => e.to.startsWith(f)))
      .map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(reaching, []);
  });

  it("the RegistryClient type is not named outside src/transport/ (untag, catalog and the rest go through the transport)", () => {
    assert.deepEqual(namingRegistryClient(), []);
  });

  it("a command's arrows go one way: NAME.ts imports NAME-run.ts (the flag type, the lazy body), never the reverse (issue 32)", () => {
    const back = edges
      .filter((e) => /^cli\/commands\/[a-z-]+-run\.ts$/.test(e.from) && e.to.startsWith("cli/commands/") && !e.to.endsWith("-run.ts"))
      .filter((e) => e.to !== "cli/commands/write-options.ts")
      .map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(back, []);
  });

  it("a command's body (cli/commands/*-run.ts) imports dray only from the public library, src/api/, and from src/cli/ (issue 32)", () => {
    const inner = edges
      .filter((e) => /^cli\/commands\/[a-z-]+-run\.ts$/.test(e.from) && !e.to.startsWith("cli/") && !/^api\/[a-z-]+\.ts$/.test(e.to))
      // defined() is a language helper for optional fields (no dray behaviour, nothing loaded with it).
      .filter((e) => e.to !== "defined.ts")
      .map((e) => `${e.from} → ${e.to}`);
    // Not index.ts either: the bundle would evaluate the whole library (sigstore included) for `dray inspect`.
    assert.deepEqual(inner, []);
  });

  it("no import cycles beyond the known ones (a cycle ties two modules into one concept, and its load order decides what is defined)", () => {
    // Each known cycle may shrink or go (a cycle inside one of them passes); a new one, or a module joining one, fails.
    const KNOWN: string[][] = [
      ["auth/credentials.ts", "auth/keychain.ts"],
      ["transport/mirrors.ts", "transport/types.ts"],
      ["copy/blobs.ts", "copy/convert.ts", "copy/recompress.ts", "copy/session.ts", "copy/types.ts"],
    ];
    const fresh = cycles(edges).filter((c) => !KNOWN.some((k) => c.every((m) => k.includes(m))));
    assert.deepEqual(
      fresh.map((c) => c.join(" ↔ ")),
      [],
    );
  });

  it("src/index.ts is exactly the public modules of src/api/, each re-exported whole", () => {
    const api = readdirSync(join(SRC, "api"))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `./api/${f.replace(/\.ts$/, ".js")}`)
      .sort();
    const index = stripComments(readFileSync(join(SRC, "index.ts"), "utf8"));
    const exported = [...index.matchAll(/^export \* from "([^"]+)";$/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(exported, api);
    assert.equal(index.replace(/^export \* from "[^"]+";$/gm, "").trim(), "", "index.ts holds nothing but those re-exports");
  });

  it("one image reader: configs are read whole in one place, under one limit, and a missing platform is worded once (issue 32)", () => {
    const code = sourceFiles(SRC).map((file) => ({ from: relative(SRC, file), text: stripComments(readFileSync(file, "utf8")) }));
    const defining = (re: RegExp): string[] => code.filter(({ text }) => re.test(text)).map(({ from }) => from);
    assert.deepEqual(defining(/\bconst MAX_CONFIG_BYTES\b/), ["oci/manifest.ts"]);
    assert.deepEqual(defining(/\bfunction readSmallBlob\b/), ["image/read.ts"]);
    assert.deepEqual(defining(/\bfunction resolveManifest\b/), ["image/resolve.ts"]);
    // Outside assembly (whose sources and entries are its own words), E_PLATFORM_NOT_FOUND comes from platformNotFound.
    const wording = defining(/"E_PLATFORM_NOT_FOUND"/).filter(
      (f) => !f.startsWith("assemble/") && f !== "errors.ts" && f !== "copy/all-tags.ts",
    );
    assert.deepEqual(wording, ["image/resolve.ts"]);
  });
});

/** The import graph's cycles: its strongly connected components of more than one module (Tarjan), each sorted. */
function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1) out.push(component.sort());
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return out;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
}
