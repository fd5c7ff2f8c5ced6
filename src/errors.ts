/**
 * Every failure dray reports is a DrayError with a stable `code`. The CLI maps
 * the code's family to an exit code in one place (`exitCodeFor`), so library
 * users can branch on `err.code` and scripts on the exit status.
 */

export type ErrorCode =
  // usage (exit 2)
  | "E_USAGE"
  | "E_REF_INVALID"
  | "E_LOCATION_INVALID"
  | "E_DIGEST_INVALID"
  | "E_PLATFORM_INVALID"
  /** Two images of one platform for one index (`dray index create` without --replace). */
  | "E_PLATFORM_DUPLICATE"
  // not found (exit 3)
  | "E_NOT_FOUND"
  | "E_PLATFORM_NOT_FOUND"
  // auth (exit 4)
  | "E_AUTH_DENIED"
  | "E_AUTH_FAILED"
  // integrity (exit 5)
  | "E_DIGEST_MISMATCH"
  | "E_SIZE_MISMATCH"
  | "E_MANIFEST_INVALID"
  | "E_UNSUPPORTED_MEDIA_TYPE"
  | "E_TOO_LARGE"
  | "E_UNSAFE_INPUT"
  // runtime (exit 1)
  | "E_REGISTRY"
  /** 429: the registry's rate limit (Docker Hub's TOOMANYREQUESTS) outlasted --retries. */
  | "E_RATE_LIMITED"
  | "E_NETWORK"
  | "E_IO"
  | "E_UNSUPPORTED"
  | "E_CREDENTIALS"
  | "E_KEYCHAIN"
  /** Some images of a sync (or referrers of a copy) failed while the rest went through. */
  | "E_INCOMPLETE"
  // refused by the signature policy (exit 6)
  | "E_SIGNATURE_REFUSED"
  // interrupted (exit 130)
  | "E_INTERRUPTED";

/** The codes each error class may carry: a class's family fixes its exit code. */
export type UsageCode =
  "E_USAGE" | "E_REF_INVALID" | "E_LOCATION_INVALID" | "E_DIGEST_INVALID" | "E_PLATFORM_INVALID" | "E_PLATFORM_DUPLICATE";
export type NotFoundCode = "E_NOT_FOUND" | "E_PLATFORM_NOT_FOUND";
export type AuthCode = "E_AUTH_DENIED" | "E_AUTH_FAILED";
export type IntegrityCode =
  "E_DIGEST_MISMATCH" | "E_SIZE_MISMATCH" | "E_MANIFEST_INVALID" | "E_UNSUPPORTED_MEDIA_TYPE" | "E_TOO_LARGE" | "E_UNSAFE_INPUT";

export interface DrayErrorDetails {
  /** The location or URL the failure concerns, already free of credentials. */
  where?: string;
  /** The registry's own error code (`MANIFEST_UNKNOWN`, `DENIED`, …). */
  registryCode?: string;
  /** HTTP status, when the failure came from a response. */
  status?: number;
  cause?: unknown;
}

/** Details plus a code narrower than the class's default (`{ code: "E_REF_INVALID" }` on a UsageError). */
export type DetailsWithCode<C extends ErrorCode> = DrayErrorDetails & { code?: C };

/**
 * Every constructor takes the message first and everything else in one
 * options object, as undici's errors do: `new IntegrityError(msg, { code, where })`.
 */
export class DrayError extends Error {
  readonly code: ErrorCode;
  readonly where: string | undefined;
  readonly registryCode: string | undefined;
  readonly status: number | undefined;

  constructor(message: string, details: DrayErrorDetails & { code: ErrorCode }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code;
    this.where = details.where;
    this.registryCode = details.registryCode;
    this.status = details.status;
  }
}

/** Bad command line, location, reference or digest grammar. */
export class UsageError extends DrayError {
  constructor(message: string, details: DetailsWithCode<UsageCode> = {}) {
    super(message, { ...details, code: details.code ?? "E_USAGE" });
  }
}

/** A mistake in a sync configuration file, with its place. */
export class SyncConfigError extends UsageError {}

/** A repository, tag, digest, platform or layout reference that does not exist. */
export class NotFoundError extends DrayError {
  constructor(message: string, details: DetailsWithCode<NotFoundCode> = {}) {
    super(message, { ...details, code: details.code ?? "E_NOT_FOUND" });
  }
}

/** The registry refused our credentials, or we have none it accepts. */
export class AuthError extends DrayError {
  constructor(message: string, details: DetailsWithCode<AuthCode> = {}) {
    super(message, { ...details, code: details.code ?? "E_AUTH_DENIED" });
  }
}

/** Content that is not what it claims to be: digests, sizes, manifest shapes, unsafe archives. */
export class IntegrityError extends DrayError {
  constructor(message: string, details: DrayErrorDetails & { code: IntegrityCode }) {
    super(message, details);
  }
}

/** A registry answered with an error we cannot classify more precisely. */
export class RegistryError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_REGISTRY" });
  }
}

/** A 429 (Docker Hub's TOOMANYREQUESTS) that outlasted --retries; the message names the limit and when to retry. */
export class RateLimitError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_RATE_LIMITED" });
  }
}

/** Connection refused, reset, timed out, TLS failure. */
export class NetworkError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_NETWORK" });
  }
}

/** Local file system failure. */
export class IoError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_IO" });
  }
}

/** A transport asked to do something it cannot (e.g. mount into an archive). */
export class UnsupportedError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_UNSUPPORTED" });
  }
}

/** A credentials file or credential helper that cannot be read or used. */
export class CredentialsError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_CREDENTIALS" });
  }
}

/** The OS keychain (through @github/keytar) is missing or refused. */
export class KeychainError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_KEYCHAIN" });
  }
}

/** Some images of a sync, or referrers of a copy, failed while the rest went through (exit 1 after the summary). */
export class IncompleteError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_INCOMPLETE" });
  }
}

/** No signature satisfies the keys, identities or policy given (`dray verify`, the gate of copy and sync). */
export class SignatureRefusedError extends DrayError {
  constructor(message: string, details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_SIGNATURE_REFUSED" });
  }
}

// Sync's two stops that are not failures: thrown only to leave the work in
// flight, caught by sync's engine, never shown as errors of their own.

/** The reason the run's signal carries when --fail-fast stops it: not a failure of the items it interrupts. */
export class FailFastStop extends Error {
  constructor() {
    super("stopped after the first failure (--fail-fast)");
    this.name = "FailFastStop";
  }
}

/** A pull not started because the source registry's rate limit is at its floor (min-remaining): the image is skipped. */
export class RateLimitFloor extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RateLimitFloor";
  }
}

/** The user interrupted the run (SIGINT) or the operation was aborted. */
export class InterruptedError extends DrayError {
  constructor(message = "interrupted", details: DrayErrorDetails = {}) {
    super(message, { ...details, code: "E_INTERRUPTED" });
  }
}

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  E_USAGE: 2,
  E_REF_INVALID: 2,
  E_LOCATION_INVALID: 2,
  E_DIGEST_INVALID: 2,
  E_PLATFORM_INVALID: 2,
  E_PLATFORM_DUPLICATE: 2,
  E_NOT_FOUND: 3,
  E_PLATFORM_NOT_FOUND: 3,
  E_AUTH_DENIED: 4,
  E_AUTH_FAILED: 4,
  E_DIGEST_MISMATCH: 5,
  E_SIZE_MISMATCH: 5,
  E_MANIFEST_INVALID: 5,
  E_UNSUPPORTED_MEDIA_TYPE: 5,
  E_TOO_LARGE: 5,
  E_UNSAFE_INPUT: 5,
  E_REGISTRY: 1,
  E_RATE_LIMITED: 1,
  E_NETWORK: 1,
  E_IO: 1,
  E_UNSUPPORTED: 1,
  E_CREDENTIALS: 1,
  E_KEYCHAIN: 1,
  E_INCOMPLETE: 1,
  E_SIGNATURE_REFUSED: 6,
  E_INTERRUPTED: 130,
};

/** Why a local file could not be read, in words rather than ENOENT/EISDIR/EACCES ("does not exist", "is a directory, not a file"). */
export function whyUnreadable(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
    case "ENOTDIR":
      return "does not exist";
    case "EISDIR":
      return "is a directory, not a file";
    case "EACCES":
    case "EPERM":
      return "cannot be read: permission denied";
    default:
      return `cannot be read: ${(err as Error).message}`;
  }
}

/**
 * What a file-system error means, in words a user acts on. Node's own text
 * ("EACCES: permission denied, mkdtemp '/x/.dray-spool-1-…'") names the
 * syscall and dray's temporary rather than the path the user gave.
 */
export function fsReason(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EEXIST":
      return "already exists";
    case "ENOENT":
      return "does not exist";
    case "ELOOP":
      return "too many levels of symbolic links";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/** The process exit code (README, "Exit codes") for any thrown value. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof DrayError) return EXIT_BY_CODE[err.code];
  return 1;
}

/** An abort as Node and undici report it (`AbortError`, code ABORT_ERR): the signal's doing, not a failure of its own. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err as NodeJS.ErrnoException).code === "ABORT_ERR");
}

export function isDrayError(err: unknown, code?: ErrorCode): err is DrayError {
  return err instanceof DrayError && (code === undefined || err.code === code);
}

/** A failure as a report lists it (one image of a sync, one referrer, one pruned tag): the stable code and the one-line message. */
export interface ItemError {
  code: string;
  message: string;
}

/** Any thrown value as an ItemError: a DrayError keeps its code, anything else is E_UNKNOWN. */
export function itemError(err: unknown): ItemError {
  if (err instanceof DrayError) return { code: err.code, message: err.message };
  // A request the run's signal stopped (undici's DOMException): interrupted, not a failure in words of its own.
  if (isAbortError(err)) return { code: "E_INTERRUPTED", message: "interrupted" };
  return { code: "E_UNKNOWN", message: err instanceof Error ? err.message : String(err) };
}
