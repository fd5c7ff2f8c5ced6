/**
 * The HTTP statuses the registry transport tells apart, by name: the one
 * place that says what a number means. Answers are checked with
 * RegistryCore.expectStatus (the statuses that are fine) or against these
 * names and sets, never against a bare number.
 */

export const OK = 200;
export const CREATED = 201;
export const ACCEPTED = 202;
export const NO_CONTENT = 204;
export const PARTIAL_CONTENT = 206;
export const BAD_REQUEST = 400;
export const UNAUTHORIZED = 401;
export const FORBIDDEN = 403;
export const NOT_FOUND = 404;
export const METHOD_NOT_ALLOWED = 405;
export const REQUEST_TIMEOUT = 408;
export const CONFLICT = 409;
export const PRECONDITION_FAILED = 412;
export const RANGE_NOT_SATISFIABLE = 416;
export const TOO_MANY_REQUESTS = 429;
export const INTERNAL_SERVER_ERROR = 500;
export const NOT_IMPLEMENTED = 501;
export const BAD_GATEWAY = 502;
export const SERVICE_UNAVAILABLE = 503;
export const GATEWAY_TIMEOUT = 504;

/** Redirects a GET or HEAD may follow (blob storage). */
export const REDIRECT_STATUS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** The credential or the right was refused. */
export const AUTH_REFUSED: ReadonlySet<number> = new Set([UNAUTHORIZED, FORBIDDEN]);
/** Answers worth asking again after a pause: timeouts, rate limits, a failing or overloaded server. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([
  REQUEST_TIMEOUT,
  TOO_MANY_REQUESTS,
  INTERNAL_SERVER_ERROR,
  BAD_GATEWAY,
  SERVICE_UNAVAILABLE,
  GATEWAY_TIMEOUT,
]);
/** A manifest PUT stored (the spec says 201; 200 and 202 are seen in the wild). */
export const MANIFEST_STORED = [CREATED, OK, ACCEPTED] as const;
/** A manifest DELETE done (the spec says 202). */
export const DELETED = [ACCEPTED, OK, NO_CONTENT] as const;
/** A finished upload (the spec says 201; 200 and 204 seen in the wild). */
export const BLOB_STORED = [CREATED, NO_CONTENT, OK] as const;
/** An accepted PATCH (the spec says 202). */
export const CHUNK_ACCEPTED = [ACCEPTED, CREATED, NO_CONTENT] as const;
/** An upload session's status (GET of its Location): the spec says 204. */
export const SESSION_STATUS = [NO_CONTENT, OK] as const;

/** True when `status` is one of `set`. */
export function isStatus(status: number, set: ReadonlySet<number> | readonly number[]): boolean {
  return set instanceof Set ? set.has(status) : (set as readonly number[]).includes(status);
}
