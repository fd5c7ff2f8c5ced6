import { RegistryError } from "../errors.js";

/**
 * The `WWW-Authenticate` grammar of RFC 9110 §11.6.1, as registries use it:
 *
 *   WWW-Authenticate = 1#challenge
 *   challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param       = token BWS "=" BWS ( token / quoted-string )
 *
 * Several challenges may share one header, separated by commas, which makes
 * the list ambiguous with the parameters: a token followed by `=` is a
 * parameter, any other token after a comma starts a new challenge.
 * Pure: no I/O, and any malformed input is a RegistryError, never anything else.
 */
export interface Challenge {
  /** Lowercased (`basic`, `bearer`): schemes are case-insensitive. */
  scheme: string;
  /** Parameter names lowercased; values unquoted and unescaped. The first of a repeated name wins. */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when the challenge carries one instead of parameters. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;
/** Unquoted values should be tokens, but registries send bare URLs (`realm=https://…`): accept up to a comma or space. */
const BARE_VALUE_CHAR = /[^\s,"]/;

function isBareValueStart(c: string): boolean {
  // "=" cannot start a value: `abc==` is token68 padding, not a parameter.
  return c !== "=" && BARE_VALUE_CHAR.test(c);
}

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(offset = 0): string {
    return this.text.charAt(this.pos + offset);
  }

  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }

  /** Skips whitespace and list commas (empty list elements are allowed by the `#` rule). */
  skipSeparators(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === ",") this.pos++;
  }

  readBareValue(): string {
    const start = this.pos;
    while (!this.done && BARE_VALUE_CHAR.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  readToken(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  readQuoted(): string {
    // Caller checked the opening quote.
    this.pos++;
    let out = "";
    while (!this.done) {
      const c = this.peek();
      if (c === '"') {
        this.pos++;
        return out;
      }
      if (c === "\\") {
        if (this.pos + 1 >= this.text.length) break;
        out += this.text.charAt(this.pos + 1);
        this.pos += 2;
        continue;
      }
      out += c;
      this.pos++;
    }
    throw malformed(this.text, "unterminated quoted string");
  }

  fail(why: string): never {
    throw malformed(this.text, `${why} at offset ${this.pos}`);
  }
}

function malformed(text: string, why: string): RegistryError {
  const shown = text.length > 120 ? `${text.slice(0, 117)}...` : text;
  return new RegistryError(`malformed WWW-Authenticate header "${shown}": ${why}`);
}

/**
 * True when the scanner stands on `name BWS = BWS value`: a parameter, not a
 * new scheme and not token68 padding (`abc==`), since a value must follow the `=`.
 */
function paramEqualsAhead(s: Scanner): boolean {
  const save = s.pos;
  const name = s.readToken();
  s.skipSpaces();
  let isParam = false;
  if (name !== "" && s.peek() === "=") {
    s.pos++;
    s.skipSpaces();
    isParam = s.peek() === '"' || isBareValueStart(s.peek());
  }
  s.pos = save;
  return isParam;
}

/** Tries to read a token68 (`abc+/==`) that ends the challenge; returns undefined (and rewinds) when the text is not one. */
function tryToken68(s: Scanner): string | undefined {
  const save = s.pos;
  while (!s.done && TOKEN68_CHAR.test(s.peek())) s.pos++;
  if (s.pos === save) return undefined;
  while (s.peek() === "=") s.pos++;
  const value = s.text.slice(save, s.pos);
  s.skipSpaces();
  if (s.done || s.peek() === ",") return value;
  s.pos = save;
  return undefined;
}

function readParams(s: Scanner, params: Record<string, string>): void {
  for (;;) {
    s.skipSpaces();
    if (!paramEqualsAhead(s)) return;
    const name = s.readToken().toLowerCase();
    s.skipSpaces();
    s.pos++; // "="
    s.skipSpaces();
    let value: string;
    if (s.peek() === '"') value = s.readQuoted();
    else value = s.readBareValue();
    if (!(name in params)) params[name] = value;
    s.skipSpaces();
    if (s.done) return;
    if (s.peek() !== ",") s.fail("expected a comma between parameters");
    // Several commas may separate parameters; stop if what follows is a new challenge.
    const save = s.pos;
    s.skipSeparators();
    if (s.done) return;
    if (!paramEqualsAhead(s)) {
      s.pos = save;
      return;
    }
  }
}

/** Parses every challenge in one `WWW-Authenticate` value. */
export function parseChallenges(header: string): Challenge[] {
  const s = new Scanner(header);
  const out: Challenge[] = [];
  for (;;) {
    s.skipSeparators();
    if (s.done) break;
    const scheme = s.readToken();
    if (scheme === "") s.fail("expected an authentication scheme");
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: Object.create(null) as Record<string, string> };
    if (!s.done && s.peek() !== ",") {
      if (s.peek() !== " " && s.peek() !== "\t") s.fail("expected a space after the scheme");
      s.skipSpaces();
      if (!s.done && s.peek() !== ",") {
        if (paramEqualsAhead(s)) readParams(s, challenge.params);
        else {
          const t68 = tryToken68(s);
          if (t68 === undefined) s.fail("expected parameters or a token68");
          challenge.token68 = t68;
        }
      }
    }
    challenge.params = { ...challenge.params };
    out.push(challenge);
    s.skipSpaces();
    if (!s.done && s.peek() !== ",") s.fail("expected a comma between challenges");
  }
  if (out.length === 0) throw malformed(header, "no challenge");
  return out;
}

/**
 * Parses several header lines (a response may repeat the header) into one
 * list. A line the strict grammar refuses is read again by a forgiving
 * fallback (see lenientChallenge), as docker and containerd are lenient;
 * `onLenient` hears about it (for --debug).
 */
export function parseChallengeHeaders(values: string | string[] | undefined, onLenient?: (header: string) => void): Challenge[] {
  if (values === undefined) return [];
  const list = Array.isArray(values) ? values : [values];
  return list.flatMap((v) => {
    try {
      return parseChallenges(v);
    } catch (err) {
      const lenient = lenientChallenge(v);
      if (!lenient) throw err;
      onLenient?.(v);
      return [lenient];
    }
  });
}

const LENIENT_PARAM_RE = /\b(realm|service|scope|error)\s*=\s*(?:"([^"]*)"?|([^\s,"]+))/gi;

/**
 * The scheme (first word) and the `realm`, `service`, `scope` and `error`
 * parameters of a challenge the strict grammar refuses: missing commas
 * between parameters, an unterminated quote, stray characters. Undefined
 * when not even a scheme and one of those parameters can be found.
 */
export function lenientChallenge(header: string): Challenge | undefined {
  const scheme = /^\s*([A-Za-z][A-Za-z0-9._-]*)/.exec(header)?.[1];
  if (!scheme) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.matchAll(LENIENT_PARAM_RE)) {
    const name = m[1]!.toLowerCase();
    params[name] ??= (m[2] ?? m[3] ?? "").trim();
  }
  if (Object.keys(params).length === 0) return undefined;
  return { scheme: scheme.toLowerCase(), params };
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Serialises challenges back into one header value (values always quoted). */
export function formatChallenges(challenges: readonly Challenge[]): string {
  return challenges
    .map((c) => {
      if (c.token68 !== undefined) return `${c.scheme} ${c.token68}`;
      const params = Object.entries(c.params).map(([k, v]) => `${k}=${quote(v)}`);
      return params.length === 0 ? c.scheme : `${c.scheme} ${params.join(", ")}`;
    })
    .join(", ");
}

/** The first challenge of a scheme (`basic`, `bearer`), if any. */
export function findChallenge(challenges: readonly Challenge[], scheme: string): Challenge | undefined {
  const wanted = scheme.toLowerCase();
  return challenges.find((c) => c.scheme === wanted);
}
