/** Tag lists and the catalog, following `Link` pagination with the page and loop bounds. */
import { RegistryError } from "../../errors.js";
import type { RegistryCore } from "./core.js";
import type { ErrorContext } from "./errors.js";
import { readBody } from "./http/response.js";
import { nextPage, type NextPage } from "./http/link.js";
import { redactURL } from "./http/redact.js";
import { CATALOG_SCOPE, type Scope } from "./scope.js";
import { OK } from "./http/status.js";

const MAX_LIST_PAGE_BYTES = 16 * 1024 * 1024;
const MAX_PAGES = 10_000;
/**
 * A whole tag list or catalog, over all its pages: the largest real lists
 * (a CI repository with a tag per build) hold tens of thousands of names, a
 * few MiB of JSON; an endless `Link` chain of new pages would otherwise fill
 * memory. Past either bound the list is refused, not cut: a mirror's --prune
 * or --all-tags acting on part of a list would be worse than no list.
 */
const MAX_LIST_BYTES = 64 * 1024 * 1024;
const MAX_LIST_ENTRIES = 1_000_000;

/** Every tag of a repository, following `Link` pagination. */
export async function listTags(core: RegistryCore, repo: string, pageSize?: number, signal?: AbortSignal): Promise<string[]> {
  const first = await core.api(`${repo}/tags/list`, { n: pageSize?.toString() });
  return paginate(core, first, core.scopes(repo), "tags", { what: "tag list", where: core.where(repo) }, signal);
}

/** Every repository of the registry (`/v2/_catalog`), following `Link` pagination. */
export async function catalog(core: RegistryCore, pageSize?: number, signal?: AbortSignal): Promise<string[]> {
  const first = await core.api("_catalog", { n: pageSize?.toString() });
  return paginate(core, first, [CATALOG_SCOPE], "repositories", { what: "catalog", where: `docker://${core.domain}` }, signal);
}

async function paginate(
  core: RegistryCore,
  first: URL,
  scopes: readonly Scope[],
  field: "tags" | "repositories",
  ctx: ErrorContext,
  signal?: AbortSignal,
): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  let url: URL | undefined = first;
  for (let page = 0; url; page++) {
    if (page >= MAX_PAGES || bytes > MAX_LIST_BYTES || out.length > MAX_LIST_ENTRIES) {
      throw new RegistryError(
        `${ctx.what} of ${ctx.where} is longer than dray reads (${out.length} entries in ${page} pages, ${bytes} bytes, and its Link header names more; ` +
          `at most ${MAX_LIST_ENTRIES} entries, ${MAX_LIST_BYTES} bytes or ${MAX_PAGES} pages)`,
        { where: ctx.where },
      );
    }
    seen.add(url.toString());
    const res = await core.call({ method: "GET", url, scopes, headers: { accept: "application/json" }, signal });
    await core.expectStatus(res, [OK], ctx);
    const body = await readBody(res, MAX_LIST_PAGE_BYTES, ctx.what);
    bytes += body.length;
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString("utf8"));
    } catch {
      throw new RegistryError(`${ctx.what} of ${ctx.where} is not JSON`, { where: ctx.where });
    }
    const list = (doc as Record<string, unknown> | null)?.[field];
    if (list !== null && list !== undefined) {
      if (!Array.isArray(list) || list.some((t) => typeof t !== "string"))
        throw new RegistryError(`${ctx.what} of ${ctx.where} is malformed`, { where: ctx.where });
      out.push(...(list as string[]));
    }
    url = followable(core, nextPage(res.headers, url), seen, ctx, out.length);
  }
  return out;
}

/**
 * The next page to read, or undefined; a link that cannot be followed
 * (another origin, unreadable, or back to a page already read, which would
 * loop) ends the list with a warning that names it.
 */
function followable(core: RegistryCore, next: NextPage, seen: ReadonlySet<string>, ctx: ErrorContext, entries: number): URL | undefined {
  let problem = "problem" in next ? next.problem : undefined;
  if ("url" in next && seen.has(next.url.toString()))
    problem = `its Link header loops back to a page already read (${redactURL(next.url)})`;
  if (problem === undefined) return "url" in next ? next.url : undefined;
  core.settings.notice?.(`warning: ${ctx.what} of ${ctx.where} may be incomplete: ${problem}; stopped after ${entries} entries`);
  return undefined;
}
