/**
 * URLs as `--debug` may print them: no user-info, and query values replaced
 * unless the parameter is known to be harmless (pagination, digests, mount
 * sources, token scopes). Pre-signed object-store URLs carry their signature
 * in the query, and an upload `_state` is an opaque server secret.
 */
const SAFE_QUERY_KEYS = new Set(["n", "last", "digest", "mount", "from", "service", "scope", "artifactType"]);

export function redactURL(url: URL | string): string {
  const u = new URL(url.toString());
  u.username = "";
  u.password = "";
  if (u.search !== "") {
    const out = new URLSearchParams();
    for (const [k, v] of u.searchParams) out.append(k, SAFE_QUERY_KEYS.has(k) ? v : "REDACTED");
    u.search = out.toString();
  }
  return u.toString();
}
