// A forward proxy on 127.0.0.1 that gives loopback servers real-looking host
// names (registry.example.test, auth.example.test, …), so dray meets a vendor's
// layout — a registry and its token service on different hosts, over HTTPS —
// without any traffic leaving loopback. dray reaches it through HTTPS_PROXY /
// HTTP_PROXY, as it would a corporate proxy.
//
// CONNECT to a mapped name is answered 200 and the tunnel is served here:
// TLS is terminated with a certificate for the name signed by the test CA
// (dray gets that CA with --ca-file), or, for names declared plain, HTTP is
// read as is; each request is then forwarded to the name's loopback port
// with its Host header kept and X-Forwarded-Proto saying what the client
// spoke, so the registry's Location headers name the host the client used.
// Absolute-form requests (`GET http://name/path`) are forwarded the same way.
// Any name not in the map is refused (403) and recorded: nothing is ever
// dialled but the mapped loopback ports.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createSecureContext, TLSSocket } from "node:tls";
import { onCleanup } from "./tmp.js";

export interface NamedHostsOptions {
  /** Host name (no port) → loopback port of the server that answers for it. */
  names: Record<string, number>;
  /** PEM certificate valid for every name, and its key (test/helpers/certs.ts makeCertificates with `names`). */
  certPem: string;
  keyPem: string;
  /** Names that speak plain HTTP inside their tunnel (a plain-HTTP token realm); the others speak TLS. */
  plain?: string[];
}

export interface NamedHostsProxy {
  /** `http://127.0.0.1:PORT`, for HTTPS_PROXY and HTTP_PROXY. */
  url: string;
  /** Environment that sends dray through the proxy (NO_PROXY cleared). */
  env: Record<string, string>;
  /** Names asked for that are not mapped (each refused with 403). */
  refused: string[];
  /** `METHOD https://name/path` of every request forwarded. */
  log: string[];
  /** Adds or moves a name. */
  map(name: string, port: number): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

interface TunnelTarget {
  name: string;
  scheme: "http" | "https";
}

function hostName(authority: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(authority);
  if (m) return m[1]!.toLowerCase();
  return authority.replace(/:\d+$/, "").toLowerCase();
}

export async function startNamedHosts(opts: NamedHostsOptions): Promise<NamedHostsProxy> {
  const names = new Map(Object.entries(opts.names).map(([k, v]) => [k.toLowerCase(), v]));
  const plain = new Set((opts.plain ?? []).map((n) => n.toLowerCase()));
  const refused: string[] = [];
  const log: string[] = [];
  const tunnels = new WeakMap<Socket, TunnelTarget>();
  const secureContext = createSecureContext({ cert: opts.certPem, key: opts.keyPem });
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse, name: string, scheme: "http" | "https", path: string): void => {
    const port = names.get(name);
    if (port === undefined) {
      refused.push(name);
      res.writeHead(403, { "content-type": "text/plain" });
      res.end(`named-hosts: ${name} is not mapped; nothing leaves loopback\n`);
      return;
    }
    log.push(`${req.method} ${scheme}://${name}${path}`);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    headers["x-forwarded-proto"] = scheme;
    const up = httpRequest({ hostname: "127.0.0.1", port, method: req.method, path, headers });
    up.on("response", (ur) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  // Requests inside tunnels: the target is the one CONNECT named.
  const inner = createServer((req, res) => {
    const target = tunnels.get(req.socket);
    if (!target) {
      res.writeHead(500);
      res.end();
      return;
    }
    forward(req, res, target.name, target.scheme, req.url ?? "/");
  });

  const outer: Server = createServer((req, res) => {
    // Absolute-form: `GET http://name/path HTTP/1.1`.
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      res.writeHead(400);
      res.end("named-hosts: absolute-form URL expected\n");
      return;
    }
    forward(req, res, url.hostname.toLowerCase(), "http", `${url.pathname}${url.search}`);
  });
  outer.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  outer.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const name = hostName(req.url ?? "");
    if (!names.has(name)) {
      refused.push(name);
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) socket.unshift(head);
    if (plain.has(name)) {
      tunnels.set(socket, { name, scheme: "http" });
      inner.emit("connection", socket);
      return;
    }
    // Wrapping the net.Socket itself lets TLS read from its handle (nothing consumed before).
    const tls = new TLSSocket(socket, { isServer: true, secureContext });
    tunnels.set(tls, { name, scheme: "https" });
    sockets.add(tls);
    tls.on("close", () => sockets.delete(tls));
    tls.on("error", () => socket.destroy());
    inner.emit("connection", tls);
  });

  await new Promise<void>((resolve, reject) => {
    outer.once("error", reject);
    outer.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(outer.address() as AddressInfo).port}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      outer.close(() => resolve());
      inner.close();
      for (const s of sockets) s.destroy();
    });
    return stopped;
  };
  onCleanup(stop, () => {
    for (const s of sockets) s.destroy();
  });
  return {
    url,
    env: { HTTPS_PROXY: url, HTTP_PROXY: url, https_proxy: url, http_proxy: url, NO_PROXY: "", no_proxy: "" },
    refused,
    log,
    map(name: string, port: number): void {
      names.set(name.toLowerCase(), port);
    },
    stop,
  };
}
