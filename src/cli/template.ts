import { UsageError } from "../errors.js";
import { isObject } from "../json.js";

/**
 * A small subset of Go's text/template, enough for the `--format` strings
 * people already pass to `skopeo inspect` and `docker inspect`:
 *
 *   {{.Digest}}  {{.Os}}/{{.Architecture}}  {{.Labels.foo}}  {{.}}
 *   {{range .Layers}}{{.}}{{"\n"}}{{end}}   (also over objects, sorted by key; {{else}} when empty)
 *   {{if .Variant}}/{{.Variant}}{{else}}…{{end}}
 *   {{json .Labels}}  {{index .Labels "org.opencontainers.image.title"}}  {{len .Layers}}
 *   {{.Labels | json}}  {{- trims space -}}  {{/* comments *\/}}
 *
 * Values print as Go's fmt %v does: arrays as `[a b]`, objects as
 * `map[k:v]` with sorted keys. Missing fields and null print nothing (our data
 * is JSON, where an absent optional field is the zero value Go would print).
 * Written here rather than taken from npm: the subset is small, and its exact
 * behaviour (Go's %v printing, emptiness rules, trim markers) is pinned by
 * test/cli/template.test.ts instead of by a port we would have to audit.
 */

type Value = unknown;

interface FieldExpr {
  kind: "field";
  /** Path after the dot; empty for `.` itself. */
  path: string[];
}
interface LiteralExpr {
  kind: "literal";
  value: Value;
}
interface CallExpr {
  kind: "call";
  name: string;
  args: Expr[];
}
type Expr = FieldExpr | LiteralExpr | CallExpr;

/** Commands joined by `|`: each result is passed as the last argument of the next. */
type Pipeline = Expr[];

type Node =
  | { kind: "text"; text: string }
  | { kind: "print"; pipe: Pipeline }
  | { kind: "if"; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: "range"; pipe: Pipeline; body: Node[]; else: Node[] };

function templateError(why: string): UsageError {
  return new UsageError(`invalid --format template: ${why}`);
}

type Builtin = (args: Value[]) => Value;

const BUILTINS: Record<string, Builtin> = {
  json: (args) => {
    expectArgs("json", args, 1);
    return JSON.stringify(args[0] ?? null);
  },
  len: (args) => {
    expectArgs("len", args, 1);
    const v = args[0];
    if (typeof v === "string" || Array.isArray(v)) return v.length;
    if (isObject(v)) return Object.keys(v).length;
    if (v === null || v === undefined) return 0;
    throw templateError(`len of ${typeof v}`);
  },
  index: (args) => {
    if (args.length < 2) throw templateError("index needs a value and at least one key");
    let v = args[0];
    for (const key of args.slice(1)) v = lookup(v, String(key));
    return v;
  },
  print: (args) => args.map(formatValue).join(""),
};

function expectArgs(name: string, args: Value[], n: number): void {
  if (args.length !== n) throw templateError(`${name} takes ${n} argument${n === 1 ? "" : "s"}, got ${args.length}`);
}

function lookup(v: Value, key: string): Value {
  if (isObject(v)) return Object.prototype.hasOwnProperty.call(v, key) ? v[key] : undefined;
  if (Array.isArray(v) && /^\d+$/.test(key)) return v[Number(key)];
  return undefined;
}

/** Go's %v for JSON-shaped values. */
export function formatValue(v: Value): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(" ")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${formatValue(v[k])}`).join(" ")}]`;
  }
  return String(v);
}

/** Go's notion of "empty": false, 0, nil, and empty strings, arrays and maps. */
function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

// ---- lexing: split into text and {{ actions }} ----------------------------

type Piece = { kind: "text"; text: string } | { kind: "action"; body: string };

function splitPieces(src: string): Piece[] {
  const pieces: Piece[] = [];
  let pos = 0;
  while (pos < src.length) {
    const open = src.indexOf("{{", pos);
    if (open < 0) {
      pieces.push({ kind: "text", text: src.slice(pos) });
      break;
    }
    let text = src.slice(pos, open);
    let start = open + 2;
    // `{{- ` trims the white space before the action (the space after the dash is required, as in Go).
    if (/^-[ \t\r\n]/.test(src.slice(start, start + 2))) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    if (text !== "") pieces.push({ kind: "text", text });
    const close = findClose(src, start);
    if (close < 0) throw templateError(`unclosed action starting at offset ${open}`);
    let body = src.slice(start, close);
    pos = close + 2;
    if (/[ \t\r\n]-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(pos));
      pos += m ? m[0].length : 0;
    }
    pieces.push({ kind: "action", body: body.trim() });
  }
  return pieces;
}

/** The `}}` closing an action, skipping over quoted strings inside it. */
function findClose(src: string, from: number): number {
  let i = from;
  while (i < src.length) {
    const c = src[i];
    if (c === '"' || c === "`") {
      i = skipString(src, i);
      continue;
    }
    if (c === "}" && src[i + 1] === "}") return i;
    i++;
  }
  return -1;
}

function skipString(src: string, start: number): number {
  const quote = src[start];
  let i = start + 1;
  while (i < src.length && src[i] !== quote) i += quote === '"' && src[i] === "\\" ? 2 : 1;
  if (i >= src.length) throw templateError("unterminated string");
  return i + 1;
}

// ---- parsing actions --------------------------------------------------------

function tokenize(body: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "`") {
      const end = skipString(body, i);
      tokens.push(body.slice(i, end));
      i = end;
    } else if (c === "|") {
      tokens.push("|");
      i++;
    } else {
      let j = i;
      while (j < body.length && !/[\s|"`]/.test(body[j]!)) j++;
      tokens.push(body.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

function parseOperand(tok: string): Expr {
  if (tok === ".") return { kind: "field", path: [] };
  if (tok.startsWith(".")) {
    const path = tok.slice(1).split(".");
    if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) throw templateError(`bad field "${tok}"`);
    return { kind: "field", path };
  }
  if (tok.startsWith("`")) return { kind: "literal", value: tok.slice(1, -1) };
  if (tok.startsWith('"')) {
    try {
      return { kind: "literal", value: JSON.parse(tok) as string };
    } catch {
      throw templateError(`bad string ${tok}`);
    }
  }
  if (/^-?\d+(?:\.\d+)?$/.test(tok)) return { kind: "literal", value: Number(tok) };
  if (tok === "true" || tok === "false") return { kind: "literal", value: tok === "true" };
  if (tok === "nil") return { kind: "literal", value: null };
  if (tok in BUILTINS) return { kind: "call", name: tok, args: [] };
  throw templateError(`function "${tok}" not defined`);
}

function parsePipeline(tokens: string[]): Pipeline {
  if (tokens.length === 0) throw templateError("missing value in action");
  const commands: string[][] = [[]];
  for (const t of tokens) {
    if (t === "|") commands.push([]);
    else commands[commands.length - 1]!.push(t);
  }
  return commands.map((cmd) => {
    if (cmd.length === 0) throw templateError("empty command in pipeline");
    const [head, ...rest] = cmd as [string, ...string[]];
    const first = parseOperand(head);
    if (first.kind === "call") return { kind: "call", name: first.name, args: rest.map(parseOperand) };
    if (rest.length > 0) throw templateError(`can't give argument to non-function ${head}`);
    return first;
  });
}

type Stop = "end" | "else" | "eof";

function parseNodes(pieces: Piece[], pos: { i: number }, inBlock: boolean): { nodes: Node[]; stop: Stop } {
  const nodes: Node[] = [];
  while (pos.i < pieces.length) {
    const piece = pieces[pos.i++]!;
    if (piece.kind === "text") {
      nodes.push({ kind: "text", text: piece.text });
      continue;
    }
    const body = piece.body;
    if (body.startsWith("/*")) {
      if (!body.endsWith("*/")) throw templateError("unclosed comment");
      continue;
    }
    const tokens = tokenize(body);
    const keyword = tokens[0];
    if (keyword === "end" || keyword === "else") {
      if (!inBlock) throw templateError(`unexpected {{${keyword}}}`);
      if (tokens.length > 1) throw templateError(`unexpected words after {{${keyword}}}`);
      return { nodes, stop: keyword };
    }
    if (keyword === "if" || keyword === "range") {
      const pipe = parsePipeline(tokens.slice(1));
      const first = parseNodes(pieces, pos, true);
      let elseNodes: Node[] = [];
      if (first.stop === "else") {
        const second = parseNodes(pieces, pos, true);
        if (second.stop !== "end") throw templateError(`{{${keyword}}} without {{end}}`);
        elseNodes = second.nodes;
      } else if (first.stop !== "end") {
        throw templateError(`{{${keyword}}} without {{end}}`);
      }
      nodes.push(keyword === "if" ? { kind: "if", pipe, then: first.nodes, else: elseNodes } : { kind: "range", pipe, body: first.nodes, else: elseNodes });
      continue;
    }
    nodes.push({ kind: "print", pipe: parsePipeline(tokens) });
  }
  if (inBlock) throw templateError("missing {{end}}");
  return { nodes, stop: "eof" };
}

// ---- evaluation --------------------------------------------------------------

function evalExpr(e: Expr, dot: Value, piped: Value[]): Value {
  switch (e.kind) {
    case "literal":
      return e.value;
    case "field":
      if (piped.length > 0) throw templateError("can't give argument to a field");
      return e.path.reduce<Value>((v, key) => lookup(v, key), dot);
    case "call":
      return BUILTINS[e.name]!([...e.args.map((a) => evalExpr(a, dot, [])), ...piped]);
  }
}

function evalPipeline(pipe: Pipeline, dot: Value): Value {
  let result: Value[] = [];
  for (const cmd of pipe) result = [evalExpr(cmd, dot, result)];
  return result[0];
}

function execute(nodes: Node[], dot: Value, out: string[]): void {
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out.push(n.text);
        break;
      case "print":
        out.push(formatValue(evalPipeline(n.pipe, dot)));
        break;
      case "if":
        execute(truthy(evalPipeline(n.pipe, dot)) ? n.then : n.else, dot, out);
        break;
      case "range": {
        const v = evalPipeline(n.pipe, dot);
        const items = Array.isArray(v) ? v : isObject(v) ? Object.keys(v).sort().map((k) => v[k]) : [];
        if (v !== null && v !== undefined && !Array.isArray(v) && !isObject(v)) throw templateError(`range can't iterate over ${formatValue(v)}`);
        if (items.length === 0) execute(n.else, dot, out);
        for (const item of items) execute(n.body, item, out);
        break;
      }
    }
  }
}

export interface Template {
  readonly source: string;
  render(data: unknown): string;
}

/** Parses a template once; parse errors are E_USAGE (exit 2) before any network work starts. */
export function parseTemplate(source: string): Template {
  const { nodes } = parseNodes(splitPieces(source), { i: 0 }, false);
  // A value given to a template is the JSON form of the result (Digest objects become strings).
  return {
    source,
    render: (data) => {
      const out: string[] = [];
      execute(nodes, JSON.parse(JSON.stringify(data ?? null)) as Value, out);
      return out.join("");
    },
  };
}
