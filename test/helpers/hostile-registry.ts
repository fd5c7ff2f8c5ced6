// A small hostile registry of the tests' own, on 127.0.0.1: it serves what a
// test puts in it (manifests by tag or digest, blobs, tag-list pages) with
// the distribution API's routes and headers, and counts every request, so a
// test can serve what no real registry would store (an index naming one
// child 15 000 times, an endless chain of tag pages) and see what dray asked.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Digest } from "../../src/oci/digest.js";
import { onCleanup } from "./tmp.js";

export interface TagPage {
  /** The page's body (JSON); a test may send anything. */
  body: string;
  /** The `Link` header, if any. */
  link?: string;
}

export interface HostileRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** Puts a manifest (under its digest, and under `tag` when given); returns its digest. */
  manifest(repo: string, bytes: Buffer, mediaType: string, tag?: string): Digest;
  blob(repo: string, bytes: Buffer): Digest;
  /** Answers GET/HEAD of a blob with 307 and `Location: location` (which may be relative, or the blob's own path: a loop). */
  redirectBlob(repo: string, digest: string, location: string): void;
  /**
   * Answers `GET /v2/REPO/referrers/DIGEST` (the referrers API) with the OCI index `answer` gives for DIGEST;
   * undefined: 404 as a registry without the API.
   */
  referrers(repo: string, answer: (subject: string) => Buffer | undefined): void;
  /** Answers `GET /v2/REPO/tags/list` (any query); `url` is the request's path and query. */
  tagPages(repo: string, page: (url: URL) => TagPage): void;
  /** Requests by "METHOD path" (query dropped), in arrival order. */
  requests: string[];
  /** How many requests matched (substring of "METHOD path"). */
  count(what: string): number;
  /** Bytes of response bodies sent so far. */
  bytesSent(): number;
  stop(): Promise<void>;
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const manifests = new Map<string, { bytes: Buffer; mediaType: string; digest: Digest }>();
  const blobs = new Map<string, Buffer>();
  const pages = new Map<string, (url: URL) => TagPage>();
  const redirects = new Map<string, string>();
  const referrerAnswers = new Map<string, (subject: string) => Buffer | undefined>();
  const requests: string[] = [];
  let sent = 0;

  const send = (res: ServerResponse, head: boolean, status: number, headers: Record<string, string>, body: Buffer): void => {
    res.writeHead(status, { "Content-Length": String(body.length), "Docker-Distribution-API-Version": "registry/2.0", ...headers });
    if (head) {
      res.end();
      return;
    }
    sent += body.length;
    res.end(body);
  };
  const notFound = (res: ServerResponse, head: boolean, code: string): void =>
    send(res, head, 404, { "Content-Type": "application/json" }, Buffer.from(JSON.stringify({ errors: [{ code, message: "not here" }] })));

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(`${req.method} ${url.pathname}`);
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) return send(res, false, 405, {}, Buffer.from(""));
    if (url.pathname === "/v2/") return send(res, head, 200, { "Content-Type": "application/json" }, Buffer.from("{}"));
    const rf = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(url.pathname);
    const listed = rf ? referrerAnswers.get(rf[1]!)?.(rf[2]!) : undefined;
    if (listed) return send(res, head, 200, { "Content-Type": "application/vnd.oci.image.index.v1+json" }, listed);
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const [, repo, kind, ref] = m;
      if (kind === "manifests") {
        const found = manifests.get(`${repo}@${ref}`);
        if (!found) return notFound(res, head, "MANIFEST_UNKNOWN");
        return send(res, head, 200, { "Content-Type": found.mediaType, "Docker-Content-Digest": found.digest.toString() }, found.bytes);
      }
      const to = redirects.get(`${repo}@${ref}`);
      if (to !== undefined) return send(res, head, 307, { Location: to }, Buffer.from(""));
      const bytes = blobs.get(`${repo}@${ref}`);
      if (!bytes) return notFound(res, head, "BLOB_UNKNOWN");
      return send(res, head, 200, { "Content-Type": "application/octet-stream", "Docker-Content-Digest": ref! }, bytes);
    }
    const t = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    const pager = t ? pages.get(t[1]!) : undefined;
    if (pager) {
      const page = pager(url);
      return send(
        res,
        head,
        200,
        { "Content-Type": "application/json", ...(page.link ? { Link: page.link } : {}) },
        Buffer.from(page.body),
      );
    }
    return notFound(res, head, "NAME_UNKNOWN");
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  onCleanup(stop, () => server.close());
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    manifest(repo, bytes, mediaType, tag) {
      const digest = Digest.of(bytes);
      const entry = { bytes, mediaType, digest };
      manifests.set(`${repo}@${digest}`, entry);
      if (tag !== undefined) manifests.set(`${repo}@${tag}`, entry);
      return digest;
    },
    blob(repo, bytes) {
      const digest = Digest.of(bytes);
      blobs.set(`${repo}@${digest}`, bytes);
      return digest;
    },
    redirectBlob(repo, digest, location) {
      redirects.set(`${repo}@${digest}`, location);
    },
    referrers(repo, answer) {
      referrerAnswers.set(repo, answer);
    },
    tagPages(repo, page) {
      pages.set(repo, page);
    },
    requests,
    count: (what) => requests.filter((r) => r.includes(what)).length,
    bytesSent: () => sent,
    stop,
  };
}
