import { headerList, type ResponseHeaders } from "./http.js";

/**
 * RFC 8288 `Link` headers as registries use them for pagination:
 * `</v2/_catalog?last=b&n=2>; rel="next"`. Relative targets resolve against
 * the URL of the page that carried the header.
 */
export interface LinkValue {
  target: string;
  rel: string[];
}

const LINK_RE = /<([^>]*)>((?:\s*;\s*[^;,]*)*)/g;
const REL_RE = /(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i;

export function parseLinkHeader(value: string): LinkValue[] {
  const out: LinkValue[] = [];
  for (const m of value.matchAll(LINK_RE)) {
    const rel = REL_RE.exec(m[2] ?? "");
    const rels = (rel?.[1] ?? rel?.[2] ?? "").split(/\s+/).filter((r) => r !== "").map((r) => r.toLowerCase());
    out.push({ target: m[1] ?? "", rel: rels });
  }
  return out;
}

/** The `rel="next"` page, resolved against `current`, if any. */
export function nextPageURL(headers: ResponseHeaders, current: URL): URL | undefined {
  for (const value of headerList(headers, "link") ?? []) {
    const next = parseLinkHeader(value).find((l) => l.rel.includes("next"));
    if (!next) continue;
    try {
      const url = new URL(next.target, current);
      // Pagination stays on the registry; a link elsewhere is ignored rather than followed with credentials.
      return url.origin === current.origin ? url : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
