import type { ResponseHeaders } from "./http/response.js";

/**
 * Rate-limit headers of a registry answer. Docker Hub sends them on manifest
 * requests (docs.docker.com/docker-hub/usage/pulls: "RateLimit-Limit:
 * 100;w=21600", "RateLimit-Remaining: 76;w=21600", and
 * "docker-ratelimit-source" naming the IP or account counted); the IETF
 * RateLimit draft gives the same `N;w=SECONDS` form, which other registries
 * (and proxies in front of them) follow.
 */
export interface RateLimitInfo {
  /** Requests allowed per window. */
  limit?: number;
  /** Requests left in the current window. */
  remaining?: number;
  /** The window, from `;w=SECONDS`. */
  windowSeconds?: number;
  /** What the registry counts against (Docker Hub: an IP address or account id). */
  source?: string;
}

function firstValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : String(s).trim();
}

interface LimitField {
  count?: number;
  windowSeconds?: number;
}

/** `100;w=21600` (also `100`, `100, 100;w=21600` from a list of policies: the first item counts). */
function parseLimitField(text: string): LimitField {
  const first = text.split(",")[0] ?? "";
  const [countText, ...params] = first.split(";").map((p) => p.trim());
  const out: LimitField = {};
  const count = Number(countText);
  if (countText !== "" && Number.isSafeInteger(count) && count >= 0) out.count = count;
  for (const p of params) {
    const m = /^w\s*=\s*(\d+)$/i.exec(p);
    if (m) out.windowSeconds = Number(m[1]);
  }
  return out;
}

/** The rate-limit state an answer announces; undefined when it carries none of the headers. */
export function parseRateLimit(headers: ResponseHeaders): RateLimitInfo | undefined {
  const limitText = firstValue(headers, "ratelimit-limit");
  const remainingText = firstValue(headers, "ratelimit-remaining");
  const source = firstValue(headers, "docker-ratelimit-source");
  if (limitText === undefined && remainingText === undefined && source === undefined) return undefined;
  const info: RateLimitInfo = {};
  const limit = limitText === undefined ? {} : parseLimitField(limitText);
  const remaining = remainingText === undefined ? {} : parseLimitField(remainingText);
  if (limit.count !== undefined) info.limit = limit.count;
  if (remaining.count !== undefined) info.remaining = remaining.count;
  const window = limit.windowSeconds ?? remaining.windowSeconds;
  if (window !== undefined) info.windowSeconds = window;
  if (source) info.source = source;
  return info;
}

/** One line for messages: `100 per 6h, 0 left (counted for 2600:3c00::)`. */
export function describeRateLimit(info: RateLimitInfo): string {
  const parts: string[] = [];
  if (info.limit !== undefined)
    parts.push(`${info.limit}${info.windowSeconds !== undefined ? ` per ${formatWindow(info.windowSeconds)}` : ""}`);
  if (info.remaining !== undefined) parts.push(`${info.remaining} left`);
  let text = parts.join(", ");
  if (info.source) text += `${text ? " " : ""}(counted for ${info.source})`;
  return text;
}

/** 21600 → "6h", 90 → "90s", 3600*24 → "24h". */
export function formatWindow(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

type RateLimitListener = (host: string, info: RateLimitInfo) => void;

/**
 * The last rate-limit state seen per registry host in this process. Clients
 * are made per location, and a sync opens many: the record is process-wide so
 * that whoever schedules work (sync throttles) reads one figure per host.
 */
const lastSeen = new Map<string, RateLimitInfo>();
const listeners = new Set<RateLimitListener>();

/** Records what an answer from `host` said (called by the registry client for every answer). */
export function recordRateLimit(host: string, headers: ResponseHeaders): RateLimitInfo | undefined {
  const info = parseRateLimit(headers);
  if (info === undefined) return undefined;
  lastSeen.set(host, info);
  for (const l of listeners) l(host, info);
  return info;
}

/** The last rate-limit state `host` announced, if it announced one. */
export function lastRateLimit(host: string): RateLimitInfo | undefined {
  return lastSeen.get(host);
}

/** Calls `listener` for every answer that carries rate-limit headers; returns the unsubscribe. */
export function onRateLimit(listener: RateLimitListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Forgets every record (tests). */
export function resetRateLimits(): void {
  lastSeen.clear();
}
