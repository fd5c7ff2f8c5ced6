/**
 * Token scopes of the distribution token spec: `TYPE:NAME:ACTIONS`, e.g.
 * `repository:library/alpine:pull,push` or `registry:catalog:*`. Requests for
 * several resources (a mount: push,pull on the target, pull on the source)
 * carry several scopes; this module merges them per resource so a token
 * request names each resource once, and gives a stable cache key.
 */

export type Scope = string;

interface ParsedScope {
  resource: string;
  actions: Set<string>;
}

function parseScope(scope: Scope): ParsedScope | undefined {
  // The name may not contain ':' in practice, but the type may carry a class (`repository(plugin)`):
  // split at the first and the last colon.
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  return {
    resource: scope.slice(0, last),
    actions: new Set(
      scope
        .slice(last + 1)
        .split(",")
        .filter((a) => a !== ""),
    ),
  };
}

export function repositoryScope(repo: string, actions: readonly string[]): Scope {
  return `repository:${repo}:${actions.join(",")}`;
}

export const CATALOG_SCOPE: Scope = "registry:catalog:*";

/**
 * Union of scopes per resource, actions sorted, resources in the order they
 * first appear: the caller's own repository goes first, because some token
 * services read only the first scope of a request or grant the others less
 * (a mount asks push on the destination, then pull on the source). Cache
 * keys sort the result (scopeKey).
 */
export function mergeScopes(...lists: ReadonlyArray<readonly Scope[]>): Scope[] {
  const byResource = new Map<string, Set<string>>();
  const opaque = new Set<string>();
  for (const list of lists) {
    for (const s of list) {
      const p = parseScope(s);
      if (!p) {
        opaque.add(s);
        continue;
      }
      const have = byResource.get(p.resource) ?? new Set<string>();
      for (const a of p.actions) have.add(a);
      byResource.set(p.resource, have);
    }
  }
  const out = [...byResource].map(([resource, actions]) => `${resource}:${[...actions].sort().join(",")}`);
  return [...out, ...opaque];
}

/** A key for a set of scopes whatever their order. */
export function scopeKey(scopes: readonly Scope[]): string {
  return [...mergeScopes(scopes)].sort().join(" ");
}

/** True when `have` grants at least every action of `want`. */
export function scopesCover(have: readonly Scope[], want: readonly Scope[]): boolean {
  return scopeKey([...have, ...want]) === scopeKey(have);
}

/** Scopes named by a challenge's `scope` parameter (space-separated). */
export function scopesOfChallenge(scopeParam: string | undefined): Scope[] {
  return scopeParam === undefined ? [] : scopeParam.split(" ").filter((s) => s !== "");
}
