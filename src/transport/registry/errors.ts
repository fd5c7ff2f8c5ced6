import {
  AuthError,
  type DrayError,
  IntegrityError,
  NotFoundError,
  RateLimitError,
  RegistryError,
  UnsupportedError,
  type DrayErrorDetails,
} from "../../errors.js";
import { withoutSentSecrets } from "../../auth/sent-secrets.js";
import { discard, header, readErrorBody, type HttpResponse } from "./http/response.js";
import { describeRateLimit, formatWindow, parseRateLimit } from "./ratelimit.js";
import { afterRetries, parseRetryAfter } from "./http/retry.js";
import { FORBIDDEN, METHOD_NOT_ALLOWED, NOT_FOUND, TOO_MANY_REQUESTS, UNAUTHORIZED } from "./http/status.js";

/**
 * A registry's error answer, `{"errors":[{"code","message","detail"}]}` in
 * the distribution spec, mapped to dray's typed errors so the CLI picks the
 * exit code (README, "Exit codes"): not found 3, auth 4, integrity 5, anything else 1.
 */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  /** The spec's free-form `detail`, as one line (a string as given, anything else as JSON; `{}` left out). */
  detail?: string;
}

/**
 * Parses the spec's error body; garbage (an HTML page from a proxy) yields an empty list. A body cut short
 * (readErrorBody keeps its first MAX_ERROR_BODY bytes) is read as far as it is whole (closedPrefix): the entries
 * and members complete before the cut count (an object or array cut short keeps what it held), so a `code` ahead
 * of a huge message still decides.
 */
export function parseErrorBody(bytes: Buffer): RegistryErrorEntry[] {
  let doc: unknown;
  const text = bytes.toString("utf8");
  try {
    doc = JSON.parse(text);
  } catch {
    try {
      doc = JSON.parse(closedPrefix(text) ?? "");
    } catch {
      return [];
    }
  }
  const errors = (doc as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of errors) {
    if (typeof e !== "object" || e === null) continue;
    const { code, message, detail } = e as { code?: unknown; message?: unknown; detail?: unknown };
    if (typeof code !== "string") continue;
    const entry: RegistryErrorEntry = { code: withoutSentSecrets(code).toUpperCase() };
    if (typeof message === "string") entry.message = sanitise(message);
    const said = detailText(detail);
    if (said) entry.detail = said;
    out.push(entry);
  }
  return out;
}

/**
 * The longest prefix of JSON text `text` that ends at a boundary between members or elements, with its open objects
 * and arrays closed: `{"errors":[{"code":"DENIED","message":"aaa…` (cut) gives `{"errors":[{"code":"DENIED"}]}`.
 * A boundary is just after `{`, `[`, `}` or `]`, or just before a `,`, outside strings: there every value begun is
 * complete, so closing what is open makes valid JSON of any prefix of valid JSON. Undefined before the first one.
 */
export function closedPrefix(text: string): string | undefined {
  // Two passes, each linear: the last boundary, then what is open there (a cut body is at most MAX_ERROR_BODY).
  let end: number | undefined;
  structure(text, (i, c) => {
    end = c === "," ? i : i + 1;
  });
  if (end === undefined) return undefined;
  const kept = text.slice(0, end);
  const open: string[] = [];
  structure(kept, (_, c) => {
    if (c === "{" || c === "[") open.push(c === "{" ? "}" : "]");
    else if (c !== ",") open.pop();
  });
  return kept + open.reverse().join("");
}

/** Calls `at` for each `{`, `[`, `}`, `]` and `,` of JSON text outside its strings. */
function structure(text: string, at: (index: number, c: string) => void): void {
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[" || c === "}" || c === "]" || c === ",") at(i, c);
  }
}

/** `detail` as one line: distribution puts the real cause there (a digest, a validation error) behind a generic message. */
function detailText(detail: unknown): string | undefined {
  if (detail === undefined || detail === null) return undefined;
  if (typeof detail === "string") return detail.trim() === "" ? undefined : sanitise(detail);
  if (typeof detail === "object" && Object.keys(detail).length === 0) return undefined;
  try {
    return sanitise(JSON.stringify(detail));
  } catch {
    // JSON.parse reads any depth, JSON.stringify recurses: a detail nested thousands deep overflows the stack,
    // and that must not cost the entry (its code is the verdict) nor escape the retry loop as a RangeError.
    return undefined;
  }
}

/** Registry text goes to a terminal and logs: one line, no control characters, no secret of ours echoed back, bounded. */
function sanitise(text: string): string {
  const said = withoutSentSecrets(text);
  // eslint-disable-next-line no-control-regex -- control characters (and bidi controls) are exactly what is removed
  const clean = said.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g, " ").trim();
  return clean.length > 300 ? `${clean.slice(0, 297)}...` : clean;
}

/**
 * Codes that make a 5xx the registry's verdict on the request (its name, tag, manifest, rights), which
 * asking again will not change; a 5xx naming one is not retried. The others stay retried: UNKNOWN and
 * UNAVAILABLE (a server in trouble), TOOMANYREQUESTS, BLOB_UPLOAD_INVALID, and the blob codes
 * distribution answers with a 500 to a passing race on a blob's link file (MANIFEST_BLOB_UNKNOWN,
 * BLOB_UNKNOWN, DIGEST_INVALID). The peers agree on the verdicts: containers/common's
 * pkg/retry IsErrorRetryable (skopeo, podman) never retries UNAUTHORIZED, DENIED, NAME_UNKNOWN or
 * MANIFEST_UNKNOWN whatever the status, and go-containerregistry's transport.Error.Temporary (crane)
 * counts only BLOB_UPLOAD_INVALID, TOOMANYREQUESTS, UNKNOWN and UNAVAILABLE as temporary once the body
 * names codes. Vendors refuse an immutable tag with TAG_INVALID or DENIED (manifests.ts,
 * mayBeImmutableTag), some with a 5xx.
 */
const VERDICTS: ReadonlySet<string> = new Set([
  "UNAUTHORIZED",
  "DENIED",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "TAG_INVALID",
  "TAG_IMMUTABLE",
  "MANIFEST_INVALID",
  "MANIFEST_UNVERIFIED",
  "MANIFEST_UNKNOWN",
  "SIZE_INVALID",
  "UNSUPPORTED",
]);

/** True when a 5xx's error entries include a verdict (VERDICTS): the answer to report, not a hiccup to retry. */
export function isVerdict(entries: readonly RegistryErrorEntry[]): boolean {
  return entries.some((e) => VERDICTS.has(e.code));
}

export interface ErrorContext {
  /** What was being done: `manifest latest`, `blob sha256:…`, `upload of sha256:…`. */
  what: string;
  /** The location, already free of credentials (`docker://host/repo:tag`). */
  where: string;
}

/** Builds the typed error for a status and the registry's own codes. */
export function errorFor(status: number, entries: RegistryErrorEntry[], ctx: ErrorContext): DrayError {
  // distribution answers a manifest it cannot store with UNKNOWN ("unknown error") first and the real cause
  // after it (MANIFEST_BLOB_UNKNOWN and the digest): the first specific code decides, and every entry is shown.
  const first = entries.find((e) => e.code !== "UNKNOWN") ?? entries[0];
  const registryCode = first?.code;
  const described = new Set([first, ...entries].filter((e) => e !== undefined).map(describeEntry));
  const said = first ? `${[...described].join("; ")} (HTTP ${status})` : `HTTP ${status}`;
  const details: DrayErrorDetails = { where: ctx.where, status };
  if (registryCode !== undefined) details.registryCode = registryCode;
  const msg = (text: string): string => `${text}: ${ctx.what} at ${ctx.where}: ${said}`;
  switch (registryCode) {
    case "MANIFEST_UNKNOWN":
    case "BLOB_UNKNOWN":
    case "NAME_UNKNOWN":
    case "BLOB_UPLOAD_UNKNOWN":
      return new NotFoundError(msg("not found"), details);
    case "UNAUTHORIZED":
      return new AuthError(msg("authentication failed"), { code: "E_AUTH_FAILED", ...details });
    case "DENIED":
      return new AuthError(msg("access denied"), details);
    case "DIGEST_INVALID":
      return new IntegrityError(msg("digest rejected by the registry"), { code: "E_DIGEST_MISMATCH", ...details });
    case "SIZE_INVALID":
      return new IntegrityError(msg("size rejected by the registry"), { code: "E_SIZE_MISMATCH", ...details });
    case "MANIFEST_INVALID":
    case "MANIFEST_BLOB_UNKNOWN":
    case "MANIFEST_UNVERIFIED":
      return new IntegrityError(msg("manifest rejected by the registry"), { code: "E_MANIFEST_INVALID", ...details });
    case "UNSUPPORTED":
      return new UnsupportedError(msg("operation not supported by the registry"), details);
    default:
      break;
  }
  if (status === UNAUTHORIZED) return new AuthError(msg("authentication required"), { code: "E_AUTH_FAILED", ...details });
  if (status === FORBIDDEN) return new AuthError(msg("access denied"), details);
  if (status === NOT_FOUND) return new NotFoundError(msg("not found"), details);
  if (status === METHOD_NOT_ALLOWED) return new UnsupportedError(msg("operation not supported by the registry"), details);
  return new RegistryError(msg("registry error"), details);
}

function describeEntry(e: RegistryErrorEntry): string {
  return `${e.message ? `${e.message} ` : ""}(${e.code})${e.detail ? `: ${e.detail}` : ""}`;
}

/** Reads the error body of a failed response (bounded) and builds the typed error. */
export async function errorFromResponse(res: HttpResponse, ctx: ErrorContext): Promise<DrayError> {
  let entries: RegistryErrorEntry[] = [];
  try {
    entries = parseErrorBody(res.said ?? (await readErrorBody(res)));
  } catch {
    await discard(res);
  }
  if (res.status === TOO_MANY_REQUESTS || entries[0]?.code === "TOOMANYREQUESTS") return rateLimitError(res, entries, ctx);
  const err = errorFor(res.status, entries, ctx);
  if (!res.retries) return err;
  err.message += afterRetries(res.retries);
  return err;
}

/**
 * A 429 after the retries: one line with what the registry said about its
 * limit (RateLimit-Limit / -Remaining / docker-ratelimit-source, as Docker
 * Hub sends them, docs.docker.com/docker-hub/usage/pulls) and when to try
 * again (Retry-After, else the window).
 */
export function rateLimitError(
  res: Pick<HttpResponse, "status" | "headers">,
  entries: RegistryErrorEntry[],
  ctx: ErrorContext,
  now = Date.now(),
): DrayError {
  const info = parseRateLimit(res.headers);
  const host = hostOfWhere(ctx.where);
  const parts = [`rate limited by ${host}: ${ctx.what} at ${ctx.where}`];
  if (info) parts.push(`limit ${describeRateLimit(info)}`);
  const wait = parseRetryAfter(header(res.headers, "retry-after"), now);
  if (wait !== undefined)
    parts.push(`retry after ${new Date(now + wait).toISOString().replace(/\.\d{3}Z$/, "Z")} (in ${formatWindow(Math.ceil(wait / 1000))})`);
  else if (info?.windowSeconds !== undefined) parts.push(`retry once the ${formatWindow(info.windowSeconds)} window frees pulls`);
  else parts.push("retry later");
  const code = entries[0]?.code ?? "TOOMANYREQUESTS";
  return new RateLimitError(`${parts.join("; ")} (${code})`, { where: ctx.where, status: res.status, registryCode: code });
}

/** `docker://host/repo:tag` → `host`. */
function hostOfWhere(where: string): string {
  return where.replace(/^[a-z-]+:\/\//, "").split("/")[0] ?? where;
}
