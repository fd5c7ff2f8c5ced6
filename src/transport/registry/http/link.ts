import { quote } from "../../../ref/reference.js";
import { headerList, type ResponseHeaders } from "./response.js";

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
    const rels = (rel?.[1] ?? rel?.[2] ?? "")
      .split(/\s+/)
      .filter((r) => r !== "")
      .map((r) => r.toLowerCase());
    out.push({ target: m[1] ?? "", rel: rels });
  }
  return out;
}

/** What a page says about the next one: its URL, nothing (the last page), or why it cannot be followed. */
export type NextPage = { url: URL } | { end: true } | { problem: string };

/**
 * The `rel="next"` page, resolved against `current`. A link to another
 * origin is not followed (credentials stay on the registry), and neither is
 * one that cannot be read; both are reported, so the caller can say the list
 * may be incomplete instead of truncating it silently.
 */
export function nextPage(headers: ResponseHeaders, current: URL): NextPage {
  const values = headerList(headers, "link") ?? [];
  for (const value of values) {
    const next = parseLinkHeader(value).find((l) => l.rel.includes("next"));
    if (!next) continue;
    let url: URL;
    try {
      url = new URL(next.target, current);
    } catch {
      return { problem: `its Link header names an unreadable next page ${quote(next.target)}` };
    }
    if (url.origin !== current.origin) return { problem: `its Link header points the next page at another origin (${url.origin})` };
    return { url };
  }
  if (values.some((v) => /\bnext\b/i.test(v))) return { problem: `its Link header is malformed (${quote(values.join(", "))})` };
  return { end: true };
}

/** The `rel="next"` page on the same origin, if any. */
export function nextPageURL(headers: ResponseHeaders, current: URL): URL | undefined {
  const next = nextPage(headers, current);
  return "url" in next ? next.url : undefined;
}
