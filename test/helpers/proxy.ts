// A fault-injecting HTTP proxy on 127.0.0.1 in front of a real registry.
// Requests pass through unchanged (Host included, so the registry's Location
// headers point back at the proxy) unless a rule matches; rules cut, stall,
// answer, redirect or rewrite. Every request is logged so tests can count.
import {
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { RegistryTarget } from "./http.js";
import { onCleanup } from "./tmp.js";

export type ProxyAction =
  /** Answer this status without forwarding (e.g. 429 with Retry-After, 500/502/503). */
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, send the response headers and the first `afterBytes` body bytes, then drop the connection. */
  | { kind: "cutResponse"; afterBytes: number }
  /** Forward only the first `afterBytes` of the request body upstream, then drop both connections. */
  | { kind: "cutRequest"; afterBytes: number }
  /** Wait `ms` before forwarding; with `afterBytes`, forward at once but pause the response body after that many bytes. */
  | { kind: "stall"; ms: number; afterBytes?: number }
  /**
   * A body one byte every `everyMs` (a server never silent long enough for a
   * body timeout): the upstream's, or with `status` an answer of the proxy's
   * own (`body`, default a JSON error) without forwarding.
   */
  | { kind: "trickle"; everyMs: number; status?: number; body?: string }
  /** Forward at once, then hold the upstream's answer `ms` before any of it reaches the client (the request has done its work upstream). */
  | { kind: "holdAnswer"; ms: number }
  /** Answer a redirect to the proxy's redirect target server, which serves the same path from upstream. */
  | { kind: "redirect"; status?: 301 | 302 | 303 | 307 | 308 }
  /** Forward, then set (or with value undefined, remove) a response header; a function gets the upstream value (a Location rewritten). */
  | { kind: "replaceHeader"; name: string; value: string | undefined | ((upstream: string | undefined) => string | undefined) }
  /** Forward with these request headers set (a storage service that accepts a pre-signed URL: the emulation adds what the registry needs). */
  | { kind: "requestHeaders"; headers: Record<string, string> }
  /** Forward, then set (or with undefined, remove) several response headers (Docker Hub's RateLimit-* on every manifest answer). */
  | { kind: "setHeaders"; headers: Record<string, string | undefined> }
  /**
   * Forward, then replace the response body with `body(original)`. Content-Length
   * follows the new body unless `contentLength: "original"` keeps the upstream
   * value (a lying server: shorter body = early close, longer = extra bytes).
   */
  | {
      kind: "replaceBody";
      body: (original: Buffer) => Buffer;
      contentLength?: "actual" | "original";
      /** Headers to set (or, with undefined, remove) as well, computed from the new body (e.g. a matching Docker-Content-Digest). */
      headers?: (body: Buffer) => Record<string, string | undefined>;
    };

export interface ProxyRule {
  /** Matches any method when omitted; case-insensitive. */
  method?: string | string[];
  /** Substring of the path+query, or a RegExp tested against it; any path when omitted. */
  path?: string | RegExp;
  /** How many matching requests get the action (then the rule passes them through); unlimited when omitted. */
  times?: number;
  /** Only requests that carry (true) or lack (false) an Authorization header; either when omitted. */
  authorized?: boolean;
  action: ProxyAction;
}

export interface ActiveRule extends ProxyRule {
  /** How many requests this rule has acted on. */
  hits: number;
  remove(): void;
}

export interface ProxyLogEntry {
  method: string;
  /** Path and query. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The action applied, or "pass". */
  action: ProxyAction["kind"] | "pass";
  /** Status sent to the client (undefined when the connection was cut before headers). */
  status?: number;
  /** Date.now() when the request arrived (to measure waits such as Retry-After). */
  at: number;
  /** Date.now() when the response was sent in full or the connection closed (requests in flight are those between `at` and `end`). */
  end?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, for `docker://HOST/repo`. */
  host: string;
  port: number;
  url: string;
  upstream: string;
  /** The upstream's credentials with the proxy's URL, for TestRegistryClient / pushImage. */
  target: RegistryTarget;
  log: ProxyLogEntry[];
  addRule(rule: ProxyRule): ActiveRule;
  clearRules(): void;
  /** Requests seen whose method and path match (same matching as rules). */
  count(method?: string | string[], path?: string | RegExp): number;
  /** Where `redirect` sends clients: another loopback server recording what it received. */
  redirectTarget: { url: string; requests: RecordedRequest[] };
  stop(): Promise<void>;
}

export interface ProxyUpstream {
  url: string;
  username?: string;
  password?: string;
  caPem?: string;
}

// Hop-by-hop headers are not forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

function forwardHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function matches(method: string, path: string, wantMethod?: string | string[], wantPath?: string | RegExp): boolean {
  if (wantMethod !== undefined) {
    const list = (Array.isArray(wantMethod) ? wantMethod : [wantMethod]).map((m) => m.toUpperCase());
    if (!list.includes(method.toUpperCase())) return false;
  }
  if (wantPath === undefined) return true;
  return typeof wantPath === "string" ? path.includes(wantPath) : wantPath.test(path);
}

/** Sets (or, with undefined, removes) a header whatever the case of its existing name. */
function setHeader(headers: Record<string, string | string[]>, name: string, value: string | undefined): void {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
  if (value === undefined) delete headers[key];
  else headers[key] = value;
}

function headerValue(headers: Record<string, string | string[]>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value[0] : value;
}

/** A 429 rule's headers with Retry-After in seconds or as an HTTP-date. */
export function retryAfter(value: number | Date): Record<string, string> {
  return { "Retry-After": typeof value === "number" ? String(value) : value.toUTCString() };
}

/** Writes honouring backpressure, so a large blob is not buffered whole. */
async function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (chunk.length === 0 || res.destroyed) return;
  if (!res.write(chunk))
    await new Promise<void>((resolve) => {
      res.once("drain", resolve);
      res.once("close", resolve);
    });
}

/** Ends the connection mid-body: what was written is flushed, then the socket closes without completing the response. */
function dropAfterFlush(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) {
    res.destroy();
    return;
  }
  socket.end();
  setTimeout(() => socket.destroy(), 50).unref();
}

/** A pause that never keeps the test process alive by itself (a stalled response outliving its test). */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return sockets;
}

async function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
}

/** Starts a proxy in front of `upstream` (a RegistryHandle works). Stopped when the test file ends. */
/** Writes `body` one byte at a time, `everyMs` apart, until done or the client goes away. */
async function trickle(res: ServerResponse, body: Buffer, everyMs: number): Promise<void> {
  for (let i = 0; i < body.length && !res.destroyed; i++) {
    await write(res, body.subarray(i, i + 1));
    await sleep(everyMs);
  }
  if (!res.destroyed) res.end();
}

export async function startProxy(upstream: ProxyUpstream): Promise<FaultProxy> {
  const base = new URL(upstream.url);
  const rules: ActiveRule[] = [];
  const log: ProxyLogEntry[] = [];
  const redirectRequests: RecordedRequest[] = [];
  // Redirect tickets: the target server serves path from upstream with the original client's auth.
  const tickets = new Map<string, { path: string; headers: IncomingHttpHeaders }>();
  let ticketSeq = 0;

  const upstreamRequest = (method: string, path: string, headers: IncomingHttpHeaders): ClientRequest => {
    // The registry builds Location URLs from Host and X-Forwarded-Proto: both must name the proxy.
    // Behind the vendor emulation's TLS-terminating forward proxy the client spoke https: keep what it said.
    const fwd = { ...forwardHeaders(headers), "x-forwarded-proto": headers["x-forwarded-proto"] ?? "http" };
    const opts = { protocol: base.protocol, hostname: base.hostname, port: base.port, method, path, headers: fwd };
    return base.protocol === "https:" ? httpsRequest({ ...opts, ca: upstream.caPem }) : httpRequest(opts);
  };

  const pickRule = (method: string, path: string, authorized: boolean): ActiveRule | undefined => {
    const rule = rules.find(
      (r) =>
        (r.times === undefined || r.hits < r.times) &&
        (r.authorized === undefined || r.authorized === authorized) &&
        matches(method, path, r.method, r.path),
    );
    if (rule) rule.hits++;
    return rule;
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      req.socket.destroy();
    });
  });
  const sockets = trackSockets(server);

  const redirectServer = createServer((req, res) => {
    redirectRequests.push({ method: req.method ?? "GET", path: req.url ?? "", headers: req.headers });
    const ticket = tickets.get(new URL(req.url ?? "/", "http://x").searchParams.get("ticket") ?? "");
    if (!ticket) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const up = upstreamRequest(req.method ?? "GET", ticket.path, { ...ticket.headers, range: req.headers.range });
    up.on("response", (ur) => {
      res.writeHead(ur.statusCode ?? 502, forwardHeaders(ur.headers));
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    up.end();
  });
  const redirectSockets = trackSockets(redirectServer);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const rule = pickRule(method, path, req.headers.authorization !== undefined);
    const entry: ProxyLogEntry = { method, path, headers: req.headers, action: rule?.action.kind ?? "pass", at: Date.now() };
    log.push(entry);
    res.on("finish", () => {
      entry.status = res.statusCode;
      entry.end = Date.now();
    });
    res.on("close", () => (entry.end ??= Date.now()));
    const action = rule?.action;
    if (action?.kind === "status") {
      req.resume();
      res.writeHead(action.status, { "Content-Type": "application/json", ...action.headers });
      res.end(action.body ?? JSON.stringify({ errors: [{ code: "UNKNOWN", message: `injected ${action.status}` }] }));
      return;
    }
    if (action?.kind === "trickle" && action.status !== undefined) {
      req.resume();
      const body = Buffer.from(action.body ?? JSON.stringify({ errors: [{ code: "UNKNOWN", message: `injected ${action.status}` }] }));
      res.writeHead(action.status, { "Content-Type": "application/json", "Content-Length": String(body.length) });
      await trickle(res, body, action.everyMs);
      return;
    }
    if (action?.kind === "redirect") {
      req.resume();
      const id = String(++ticketSeq);
      const { host: _h, ...headers } = req.headers;
      tickets.set(id, { path, headers });
      const location = `${redirectUrl}/redirected${new URL(path, "http://x").pathname}?ticket=${id}`;
      res.writeHead(action.status ?? 307, { Location: location, "Content-Length": "0" });
      res.end();
      return;
    }
    if (action?.kind === "stall" && action.afterBytes === undefined) {
      await sleep(action.ms);
      if (req.socket.destroyed) return;
    }
    await forward(req, res, action);
  }

  async function forward(req: IncomingMessage, res: ServerResponse, action: ProxyAction | undefined): Promise<void> {
    const up = upstreamRequest(
      req.method ?? "GET",
      req.url ?? "/",
      action?.kind === "requestHeaders" ? { ...req.headers, ...action.headers } : req.headers,
    );
    const fail = (): void => {
      up.destroy();
      res.destroy();
    };
    up.on("error", fail);
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on("response", (ur) => void respond(ur, res, action).catch(fail));
    if (action?.kind === "cutRequest") {
      let sent = 0;
      req.on("data", (chunk: Buffer) => {
        if (sent >= action.afterBytes) return;
        const part = chunk.subarray(0, action.afterBytes - sent);
        sent += part.length;
        up.write(part);
        if (sent >= action.afterBytes) {
          // Let the partial body reach the registry before both sides are dropped.
          setTimeout(() => {
            up.destroy();
            req.socket.destroy();
          }, 100);
        }
      });
      req.on("end", () => {
        if (sent < action.afterBytes) up.end();
      });
      return;
    }
    req.pipe(up);
  }

  async function respond(ur: IncomingMessage, res: ServerResponse, action: ProxyAction | undefined): Promise<void> {
    if (action?.kind === "holdAnswer") {
      await sleep(action.ms);
      if (res.destroyed) return;
    }
    const status = ur.statusCode ?? 502;
    const headers = forwardHeaders(ur.headers);
    if (action?.kind === "replaceHeader")
      setHeader(headers, action.name, typeof action.value === "function" ? action.value(headerValue(headers, action.name)) : action.value);
    if (action?.kind === "setHeaders") for (const [name, value] of Object.entries(action.headers)) setHeader(headers, name, value);
    if (action?.kind === "replaceBody") {
      const chunks: Buffer[] = [];
      for await (const c of ur) chunks.push(c as Buffer);
      const body = action.body(Buffer.concat(chunks));
      if (action.contentLength !== "original") headers["content-length"] = String(body.length);
      for (const [name, value] of Object.entries(action.headers?.(body) ?? {})) setHeader(headers, name, value);
      res.writeHead(status, headers);
      // With the original length, a longer body is cut at the declared size by the client; a shorter one ends early.
      if (action.contentLength === "original") {
        const declared = Number(ur.headers["content-length"] ?? body.length);
        res.write(body.subarray(0, Math.min(body.length, declared)));
        if (body.length < declared) {
          dropAfterFlush(res);
          return;
        }
        res.end();
        return;
      }
      res.end(body);
      return;
    }
    if (action?.kind === "trickle") {
      const chunks: Buffer[] = [];
      for await (const c of ur) chunks.push(c as Buffer);
      res.writeHead(status, headers);
      await trickle(res, Buffer.concat(chunks), action.everyMs);
      return;
    }
    res.writeHead(status, headers);
    if (action?.kind === "cutResponse" || (action?.kind === "stall" && action.afterBytes !== undefined)) {
      const limit = action.afterBytes ?? 0;
      let sent = 0;
      let crossed = false;
      for await (const c of ur) {
        let chunk = c as Buffer;
        if (!crossed && sent + chunk.length > limit) {
          crossed = true;
          const head = chunk.subarray(0, limit - sent);
          await write(res, head);
          sent += head.length;
          if (action.kind === "cutResponse") {
            ur.destroy();
            dropAfterFlush(res);
            return;
          }
          await sleep(action.ms);
          if (res.destroyed) {
            ur.destroy();
            return;
          }
          chunk = chunk.subarray(head.length);
        }
        await write(res, chunk);
        sent += chunk.length;
      }
      // A body no longer than the limit passes whole.
      res.end();
      return;
    }
    ur.pipe(res);
  }

  const port = await listen(server);
  const redirectPort = await listen(redirectServer);
  const redirectUrl = `http://127.0.0.1:${redirectPort}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= Promise.all([closeServer(server, sockets), closeServer(redirectServer, redirectSockets)]).then(() => undefined);
    return stopped;
  };
  onCleanup(stop, () => {
    for (const s of [...sockets, ...redirectSockets]) s.destroy();
  });

  const url = `http://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    upstream: upstream.url,
    target: { url, username: upstream.username, password: upstream.password },
    log,
    addRule(rule: ProxyRule): ActiveRule {
      const active: ActiveRule = {
        ...rule,
        hits: 0,
        remove: () => {
          const i = rules.indexOf(active);
          if (i >= 0) rules.splice(i, 1);
        },
      };
      rules.push(active);
      return active;
    },
    clearRules(): void {
      rules.length = 0;
    },
    count(method?: string | string[], path?: string | RegExp): number {
      return log.filter((e) => matches(e.method, e.path, method, path)).length;
    },
    redirectTarget: { url: redirectUrl, requests: redirectRequests },
    stop,
  };
}
