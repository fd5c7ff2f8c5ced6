import { UsageError } from "../errors.js";
import { isObject } from "../json.js";
import { escapedJson } from "../ref/reference.js";

/**
 * A small subset of Go's text/template, enough for the `--format` strings
 * people already pass to `skopeo inspect` and `docker inspect`:
 *
 *   {{.Digest}}  {{.Os}}/{{.Architecture}}  {{.Labels.foo}}  {{.}}
 *   {{range .Layers}}{{.}}{{"\n"}}{{end}}   (also over objects, sorted by key; {{else}} when empty)
 *   {{if .Variant}}/{{.Variant}}{{else}}…{{end}}
 *   {{json .Labels}}  {{index .Labels "org.opencontainers.image.title"}}  {{len .Layers}}
 *   {{.Labels | json}}  {{- trims space -}}  {{/* comments *\/}}
 *   {{with .Variant}}/{{.}}{{end}}  {{range $i, $l := .Layers}}{{$i}}={{$l}}{{end}}
 *   {{printf "%s/%s" .Os .Architecture}}  {{join .Layers ","}}  {{upper .Os}}  {{lower .Os}}
 *   {{if and (eq .Os "linux") (not .Variant)}}…{{end}}  (eq ne lt le gt ge, and or not)
 *
 * Values print as Go's fmt %v does: arrays as `[a b]`, objects as
 * `map[k:v]` with sorted keys; null prints nothing. A field the value does
 * not have is an error (Go's `missingkey=error`, which docker's templates
 * use): `{{.digest}}` on a summary keyed `Digest` must not print an empty
 * line with exit 0. `index` stays lenient, as in Go. Commands whose output
 * comes after work (copy) check the template against the shape of their
 * output first (Template.check), so a typo costs nothing.
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
interface VariableExpr {
  kind: "variable";
  /** `$` (the data the template was given) or `$name`. */
  name: string;
  path: string[];
}
interface SubExpr {
  kind: "sub";
  pipe: Pipeline;
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
type Expr = FieldExpr | VariableExpr | LiteralExpr | CallExpr | SubExpr;

/** Commands joined by `|`: each result is passed as the last argument of the next. */
type Pipeline = Expr[];

type Node =
  | { kind: "text"; text: string }
  | { kind: "print"; pipe: Pipeline }
  | { kind: "if" | "with"; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: "range"; pipe: Pipeline; body: Node[]; else: Node[]; vars: string[] };

function templateError(why: string): UsageError {
  return new UsageError(`invalid --format template: ${why}`);
}

type Builtin = (args: Value[]) => Value;

const BUILTINS: Record<string, Builtin> = {
  json: (args) => {
    expectArgs("json", args, 1);
    return escapedJson(args[0]);
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
  printf: (args) => {
    if (typeof args[0] !== "string") throw templateError("printf needs a format string first");
    return sprintf(args[0], args.slice(1));
  },
  join: (args) => {
    expectArgs("join", args, 2);
    const [list, sep] = args;
    if (!Array.isArray(list)) throw templateError(`join of ${typeof list}: expected a list`);
    return list.map(formatValue).join(String(sep));
  },
  upper: (args) => {
    expectArgs("upper", args, 1);
    return formatValue(args[0]).toUpperCase();
  },
  lower: (args) => {
    expectArgs("lower", args, 1);
    return formatValue(args[0]).toLowerCase();
  },
  not: (args) => {
    expectArgs("not", args, 1);
    return !truthy(args[0]);
  },
  // Go's and/or return the first argument that decides the result, not a boolean.
  and: (args) => {
    if (args.length === 0) throw templateError("and needs at least one argument");
    return args.find((a) => !truthy(a)) ?? args[args.length - 1];
  },
  or: (args) => {
    if (args.length === 0) throw templateError("or needs at least one argument");
    return args.find(truthy) ?? args[args.length - 1];
  },
  eq: (args) => {
    if (args.length < 2) throw templateError("eq needs at least two arguments");
    return args.slice(1).some((b) => sameValue(args[0], b));
  },
  ne: (args) => {
    expectArgs("ne", args, 2);
    return !sameValue(args[0], args[1]);
  },
  lt: (args) => compare("lt", args) < 0,
  le: (args) => compare("le", args) <= 0,
  gt: (args) => compare("gt", args) > 0,
  ge: (args) => compare("ge", args) >= 0,
};

function sameValue(a: Value, b: Value): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (typeof a === "object" || typeof b === "object") {
    if (a === null && b === null) return true;
    throw templateError("eq and ne compare strings, numbers and booleans only");
  }
  return a === b;
}

function compare(name: string, args: Value[]): number {
  expectArgs(name, args, 2);
  const [a, b] = args;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  throw templateError(`${name} compares two numbers or two strings`);
}

/** Go's fmt verbs that format strings use: %s %v %d %q %x %%, with an optional width (%-10s, %5d). */
function sprintf(format: string, args: Value[]): string {
  let next = 0;
  return format.replace(/%(-?)(\d*)([svdqx%])/g, (_m, left: string, width: string, verb: string) => {
    if (verb === "%") return "%";
    if (next >= args.length) return `%!${verb}(MISSING)`;
    const v = args[next++];
    let text: string;
    if (verb === "q") text = escapedJson(formatValue(v));
    else if (verb === "d") text = typeof v === "number" ? String(Math.trunc(v)) : `%!d(${formatValue(v)})`;
    else if (verb === "x") text = typeof v === "number" ? Math.trunc(v).toString(16) : Buffer.from(formatValue(v)).toString("hex");
    else text = formatValue(v);
    const w = Number(width || "0");
    return left ? text.padEnd(w) : text.padStart(w);
  });
}

function expectArgs(name: string, args: Value[], n: number): void {
  if (args.length !== n) throw templateError(`${name} takes ${n} argument${n === 1 ? "" : "s"}, got ${args.length}`);
}

function lookup(v: Value, key: string): Value {
  if (isObject(v)) return Object.prototype.hasOwnProperty.call(v, key) ? v[key] : undefined;
  if (Array.isArray(v) && /^\d+$/.test(key)) return v[Number(key)];
  return undefined;
}

/**
 * Go tells a struct (a missing field is an error) from a map (a missing key
 * is empty under the default missingkey) by type; JSON has only objects.
 * dray's own output objects use skopeo's capitalised keys, user-keyed maps
 * (labels, annotations) do not: an object whose keys are all capitalised is
 * taken for a struct. An empty object is a map.
 */
function isStruct(v: Record<string, Value>): boolean {
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => /^[A-Z]/.test(k));
}

/**
 * `.Field` as Go's missingkey=error does it: an object without the key is an error; null (Go's nil) gives nothing.
 * A field the output's schema has but this value left out (`Variant` of an image without one: omitempty in
 * JSON) is Go's zero value, empty, as it is for a Go struct.
 */
function field(v: Value, key: string, optional: ReadonlySet<string>): Value {
  if (v === null || v === undefined) return undefined;
  if (isObject(v)) {
    if (Object.prototype.hasOwnProperty.call(v, key)) return v[key];
    if (!isStruct(v) || optional.has(key)) return undefined;
    throw templateError(`no field "${key}" in the output (it has ${Object.keys(v).join(", ")})`);
  }
  throw templateError(
    `can't evaluate field ${key} in ${Array.isArray(v) ? "a list" : `the ${typeof v} ${JSON.stringify(formatValue(v))}`}`,
  );
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
  // What is left is not JSON (a symbol or a function): its own string form.
  return String(v as symbol);
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
    } else if (c === "|" || c === "(" || c === ")" || c === ",") {
      tokens.push(c);
      i++;
    } else if (body.startsWith(":=", i)) {
      tokens.push(":=");
      i += 2;
    } else {
      let j = i;
      while (j < body.length && !/[\s|"`(),]/.test(body[j]!) && !body.startsWith(":=", j)) j++;
      tokens.push(body.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fieldPath(text: string, tok: string): string[] {
  const path = text.split(".");
  if (path.some((p) => !NAME_RE.test(p))) throw templateError(`bad field "${tok}"`);
  return path;
}

function parseTerm(tok: string): Expr {
  if (tok === ".") return { kind: "field", path: [] };
  if (tok.startsWith(".")) return { kind: "field", path: fieldPath(tok.slice(1), tok) };
  if (tok.startsWith("$")) {
    const m = /^(\$[A-Za-z0-9_]*)(?:\.(.+))?$/.exec(tok);
    if (!m) throw templateError(`bad variable "${tok}"`);
    return { kind: "variable", name: m[1]!, path: m[2] === undefined ? [] : fieldPath(m[2], tok) };
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

/** A recursive-descent reader of one action's tokens: pipelines, commands and parenthesised sub-pipelines. */
class TokenReader {
  private i = 0;
  constructor(private readonly tokens: string[]) {}

  peek(): string | undefined {
    return this.tokens[this.i];
  }

  take(): string | undefined {
    return this.tokens[this.i++];
  }

  atEnd(): boolean {
    return this.i >= this.tokens.length;
  }

  pipeline(): Pipeline {
    const commands: Expr[] = [this.command()];
    while (this.peek() === "|") {
      this.take();
      commands.push(this.command());
    }
    return commands;
  }

  private command(): Expr {
    const operands: Expr[] = [];
    while (!this.atEnd() && this.peek() !== "|" && this.peek() !== ")") operands.push(this.operand());
    if (operands.length === 0) throw templateError(this.atEnd() ? "missing value in action" : "empty command in pipeline");
    const [first, ...rest] = operands as [Expr, ...Expr[]];
    if (first.kind === "call") return { kind: "call", name: first.name, args: rest };
    if (rest.length > 0) throw templateError("can't give argument to a non-function");
    return first;
  }

  private operand(): Expr {
    const tok = this.take()!;
    if (tok === "(") {
      const pipe = this.pipeline();
      if (this.take() !== ")") throw templateError("unclosed left paren");
      return { kind: "sub", pipe };
    }
    if (tok === "," || tok === ":=") throw templateError(`unexpected "${tok}"`);
    return parseTerm(tok);
  }
}

function parsePipeline(tokens: string[]): Pipeline {
  const reader = new TokenReader(tokens);
  if (reader.atEnd()) throw templateError("missing value in action");
  const pipe = reader.pipeline();
  if (!reader.atEnd()) throw templateError(`unexpected "${reader.peek()}"`);
  return pipe;
}

/** `$i, $x := PIPELINE` or `$x := PIPELINE` after range: the variable names and the pipeline. */
function rangeDeclaration(tokens: string[]): { vars: string[]; pipe: Pipeline } {
  const assign = tokens.indexOf(":=");
  if (assign < 0) return { vars: [], pipe: parsePipeline(tokens) };
  const names = tokens.slice(0, assign).filter((t) => t !== ",");
  if (names.length < 1 || names.length > 2 || names.some((n) => !/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(n))) {
    throw templateError(`bad range declaration "${tokens.slice(0, assign).join(" ")} :="`);
  }
  return { vars: names, pipe: parsePipeline(tokens.slice(assign + 1)) };
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
    if (keyword === "if" || keyword === "with" || keyword === "range") {
      const decl = keyword === "range" ? rangeDeclaration(tokens.slice(1)) : { vars: [], pipe: parsePipeline(tokens.slice(1)) };
      const first = parseNodes(pieces, pos, true);
      let elseNodes: Node[] = [];
      if (first.stop === "else") {
        const second = parseNodes(pieces, pos, true);
        if (second.stop !== "end") throw templateError(`{{${keyword}}} without {{end}}`);
        elseNodes = second.nodes;
      } else if (first.stop !== "end") {
        throw templateError(`{{${keyword}}} without {{end}}`);
      }
      nodes.push(
        keyword === "range"
          ? { kind: "range", pipe: decl.pipe, body: first.nodes, else: elseNodes, vars: decl.vars }
          : { kind: keyword, pipe: decl.pipe, then: first.nodes, else: elseNodes },
      );
      continue;
    }
    nodes.push({ kind: "print", pipe: parsePipeline(tokens) });
  }
  if (inBlock) throw templateError("missing {{end}}");
  return { nodes, stop: "eof" };
}

// ---- evaluation --------------------------------------------------------------

/** What an action sees: `.`, the variables in scope (`$` is the whole data), and whether every branch is walked (check). */
interface Scope {
  dot: Value;
  vars: ReadonlyMap<string, Value>;
  /** check(): walk both branches of if/with and one pass of range, so every field named is looked up. */
  everyBranch: boolean;
  /** Fields of the output's schema that a value may leave out: empty, not unknown. */
  optional: ReadonlySet<string>;
}

function evalExpr(e: Expr, scope: Scope, piped: Value[]): Value {
  switch (e.kind) {
    case "literal":
      return e.value;
    case "field":
      if (piped.length > 0) throw templateError("can't give argument to a field");
      return e.path.reduce<Value>((v, key) => field(v, key, scope.optional), scope.dot);
    case "variable": {
      if (!scope.vars.has(e.name)) throw templateError(`undefined variable "${e.name}"`);
      return e.path.reduce<Value>((v, key) => field(v, key, scope.optional), scope.vars.get(e.name));
    }
    case "sub":
      return evalPipeline(e.pipe, scope);
    case "call":
      return BUILTINS[e.name]!([...e.args.map((a) => evalExpr(a, scope, [])), ...piped]);
  }
}

function evalPipeline(pipe: Pipeline, scope: Scope): Value {
  let result: Value[] = [];
  for (const cmd of pipe) result = [evalExpr(cmd, scope, result)];
  return result[0];
}

function rangeItems(v: Value): Array<[Value, Value]> {
  if (Array.isArray(v)) return v.map((item, i) => [i, item]);
  if (isObject(v))
    return Object.keys(v)
      .sort()
      .map((k) => [k, v[k]]);
  if (v === null || v === undefined) return [];
  throw templateError(`range can't iterate over ${formatValue(v)}`);
}

function execute(nodes: Node[], scope: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out.push(n.text);
        break;
      case "print":
        out.push(formatValue(evalPipeline(n.pipe, scope)));
        break;
      case "if":
      case "with": {
        const v = evalPipeline(n.pipe, scope);
        const inner = n.kind === "with" ? { ...scope, dot: v } : scope;
        if (scope.everyBranch) {
          if (n.kind === "if" || v !== null) execute(n.then, inner, out);
          execute(n.else, scope, out);
        } else if (truthy(v)) execute(n.then, inner, out);
        else execute(n.else, scope, out);
        break;
      }
      case "range": {
        const items = rangeItems(evalPipeline(n.pipe, scope));
        if (items.length === 0 || scope.everyBranch) execute(n.else, scope, out);
        for (const [key, item] of items) {
          const vars = new Map(scope.vars);
          if (n.vars.length === 2) vars.set(n.vars[0]!, key).set(n.vars[1]!, item);
          else if (n.vars.length === 1) vars.set(n.vars[0]!, item);
          execute(n.body, { ...scope, dot: item, vars }, out);
          if (scope.everyBranch) break;
        }
        break;
      }
    }
  }
}

export interface Template {
  readonly source: string;
  /** `optional`: fields of the output's schema this value may lack (omitted when empty); they read as empty. */
  render(data: unknown, optional?: readonly string[]): string;
  /**
   * Runs the template over `shape` (a value with every field the real output
   * can have), every branch taken, so
   * a misspelt field is a usage error before the command does anything.
   */
  check(shape: unknown): void;
}

/** Parses a template once; parse errors are E_USAGE (exit 2) before any network work starts. */
export function parseTemplate(source: string): Template {
  const { nodes } = parseNodes(splitPieces(source), { i: 0 }, false);
  // A value given to a template is the JSON form of the result (Digest objects become strings).
  const run = (data: Value, everyBranch: boolean, optional: readonly string[] = []): string => {
    const out: string[] = [];
    execute(nodes, { dot: data, vars: new Map([["$", data]]), everyBranch, optional: new Set(optional) }, out);
    return out.join("");
  };
  return {
    source,
    render: (data, optional) => run(JSON.parse(JSON.stringify(data ?? null)) as Value, false, optional),
    check: (shape) => void run(shape, true),
  };
}
