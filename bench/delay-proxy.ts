// A TCP proxy that puts a network's round trip between a client and a
// registry on loopback: every chunk is held half the round-trip time in each
// direction, and a new connection waits one whole round trip before its first
// byte moves on (the TCP handshake a real link costs). Bandwidth is not
// limited: what it adds is latency only, so a case's time at RTT r minus its
// time on loopback, over r, is the number of round trips on its critical
// path. It also counts connections and HTTP requests, per run.
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import type { RequestMark } from "./timeline.js";

/** What passed through the proxy since the last reset. */
export interface ProxyCounts {
  connections: number;
  requests: number;
  /** Each request as it left the client, in order. */
  timeline: RequestMark[];
}

export interface DelayProxy {
  /** host:port clients connect to. */
  host: string;
  rttMs: number;
  counts(): ProxyCounts;
  reset(): void;
  close(): Promise<void>;
}

/** Bytes held in one direction before the sender is paused (the link's in-flight window, generous). */
const MAX_HELD_BYTES = 8 * 1024 * 1024;

/**
 * The start of an HTTP/1.1 request line (what a client sends first on a
 * connection and after each response). Registry bodies are compressed or
 * random bytes: a match inside one is as good as impossible.
 */
const REQUEST_LINE = /(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE) (\/\S*) HTTP\/1\.1\r\n/g;

/**
 * Forwards `from` to `to`, each chunk `delayMs` after it came and not before
 * `notBefore()`, in order (one queue per direction, drained by one timer:
 * timers of different durations may fire out of order); pauses `from` while
 * too much is held.
 */
function forwardDelayed(from: Socket, to: Socket, delayMs: number, notBefore: () => number, onChunk?: (chunk: Buffer) => void): void {
  const queue: Array<{ due: number; chunk: Buffer | null }> = [];
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const drain = (): void => {
    timer = undefined;
    const now = Date.now();
    while (queue.length && queue[0]!.due <= now) {
      const { chunk } = queue.shift()!;
      if (to.destroyed) continue;
      if (chunk === null) {
        to.end();
        continue;
      }
      held -= chunk.length;
      to.write(chunk);
    }
    if (held <= MAX_HELD_BYTES && from.isPaused()) from.resume();
    if (queue.length) timer = setTimeout(drain, queue[0]!.due - now);
  };
  const enqueue = (chunk: Buffer | null): void => {
    queue.push({ due: Math.max(Date.now() + delayMs, notBefore()), chunk });
    timer ??= setTimeout(drain, queue[0]!.due - Date.now());
  };
  from.on("data", (chunk: Buffer) => {
    onChunk?.(chunk);
    held += chunk.length;
    if (held > MAX_HELD_BYTES) from.pause();
    enqueue(chunk);
  });
  from.on("end", () => enqueue(null));
  to.on("close", () => clearTimeout(timer));
}

/** Starts a proxy on 127.0.0.1 in front of `target` (host:port) with the given round-trip time; `side` names it in timelines. */
export async function startDelayProxy(target: string, rttMs: number, side: string): Promise<DelayProxy> {
  const [targetHost, targetPort] = splitHostPort(target);
  const oneWay = rttMs / 2;
  let counts: ProxyCounts = { connections: 0, requests: 0, timeline: [] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    counts.connections++;
    // The handshake: a real client could send its first byte only one round trip after connecting.
    const firstArrival = Date.now() + rttMs + oneWay;
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      s.on("close", () => sockets.delete(s));
    }
    const countRequests = (chunk: Buffer): void => {
      const at = Date.now();
      for (const m of chunk.toString("latin1").matchAll(REQUEST_LINE)) {
        counts.requests++;
        counts.timeline.push({ at, side, method: m[1]!, path: m[2]! });
      }
    };
    forwardDelayed(client, upstream, oneWay, () => firstArrival, countRequests);
    forwardDelayed(upstream, client, oneWay, () => 0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    rttMs,
    counts: () => ({ ...counts, timeline: [...counts.timeline] }),
    reset: () => {
      counts = { connections: 0, requests: 0, timeline: [] };
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(":");
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
}
