// A deliberately small registry HTTP client for tests, independent of dray's
// own transport: it is the reference dray is tested against. It answers a 401
// the way the distribution spec describes (Basic, or Bearer via the realm in
// WWW-Authenticate) and trusts a test CA for TLS registries.
import { Agent, ProxyAgent, fetch as undiciFetch, type Dispatcher, type Headers } from "undici";

/** What the client needs to know about a registry (a RegistryHandle or a proxy in front of one). */
export interface RegistryTarget {
  url: string;
  username?: string;
  password?: string;
  /** PEM of a CA to trust (tls mode). */
  caPem?: string;
  /** A forward proxy to go through (the vendor emulation's named hosts). */
  proxyUrl?: string;
}

export interface TestRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Token scope to ask for on a Bearer challenge; derived from the path when omitted. */
  scope?: string;
  /** Follow redirects (default true); false returns the 3xx response. */
  redirect?: "follow" | "manual";
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The final URL after redirects. */
  url: string;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): Challenge {
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of (space < 0 ? "" : header.slice(space + 1)).matchAll(re)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : (m[3] ?? "");
  }
  return { scheme, params };
}

/** `/v2/NAME/blobs/…` or `/v2/NAME/manifests/…` → `repository:NAME:pull[,push]`. */
function scopeFor(path: string, method: string): string | undefined {
  const m = /^\/v2\/(.+?)\/(blobs|manifests|tags)\//.exec(path);
  if (!m) return path.startsWith("/v2/_catalog") ? "registry:catalog:*" : undefined;
  const write = !["GET", "HEAD"].includes(method);
  return `repository:${m[1]}:${write ? "pull,push" : "pull"}`;
}

export class TestRegistryClient {
  private readonly dispatcher: Dispatcher | undefined;
  private readonly tokens = new Map<string, string>();
  private basic = false;
  /** Every request sent, in order (`METHOD path`), so tests can check what the reference client did. */
  readonly sent: string[] = [];

  constructor(readonly target: RegistryTarget) {
    if (target.proxyUrl) this.dispatcher = new ProxyAgent({ uri: target.proxyUrl, requestTls: target.caPem ? { ca: target.caPem } : {} });
    else this.dispatcher = target.caPem ? new Agent({ connect: { ca: target.caPem } }) : undefined;
  }

  private basicHeader(): string | undefined {
    const { username, password } = this.target;
    if (username === undefined || password === undefined) return undefined;
    return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  }

  private async raw(url: string, init: TestRequestInit, auth: string | undefined): Promise<TestResponse> {
    const headers: Record<string, string> = { ...init.headers };
    if (auth) headers.authorization = auth;
    const method = init.method ?? "GET";
    this.sent.push(`${method} ${new URL(url).pathname}`);
    const res = await undiciFetch(url, {
      method,
      headers,
      body: init.body,
      redirect: init.redirect ?? "follow",
      dispatcher: this.dispatcher,
    });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()), url: res.url || url };
  }

  private async fetchToken(challenge: Challenge, scope: string | undefined): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new Error("Bearer challenge without realm");
    const u = new URL(realm);
    if (challenge.params.service) u.searchParams.set("service", challenge.params.service);
    const wanted = scope ?? challenge.params.scope;
    if (wanted) u.searchParams.set("scope", wanted);
    const res = await this.raw(u.toString(), {}, this.basicHeader());
    if (res.status !== 200) throw new Error(`token server answered ${res.status}: ${res.body.toString()}`);
    const doc = JSON.parse(res.body.toString()) as { token?: string; access_token?: string };
    const token = doc.token ?? doc.access_token;
    if (!token) throw new Error("token server answer without token");
    return token;
  }

  /** Sends a request to `path` (starting with `/v2/`) or an absolute URL; retries once with credentials on a 401. */
  async request(pathOrUrl: string, init: TestRequestInit = {}): Promise<TestResponse> {
    const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : `${this.target.url}${pathOrUrl}`;
    const method = init.method ?? "GET";
    const scope = init.scope ?? scopeFor(new URL(url).pathname, method);
    const key = scope ?? "";
    const cached = this.tokens.get(key);
    const first = await this.raw(url, init, cached ? `Bearer ${cached}` : this.basic ? this.basicHeader() : undefined);
    if (first.status !== 401) return first;
    const header = first.headers.get("www-authenticate");
    if (!header) return first;
    const challenge = parseChallenge(header);
    if (challenge.scheme === "basic") {
      const basic = this.basicHeader();
      if (!basic) return first;
      this.basic = true;
      return await this.raw(url, init, basic);
    }
    if (challenge.scheme === "bearer") {
      const token = await this.fetchToken(challenge, scope);
      this.tokens.set(key, token);
      return await this.raw(url, init, `Bearer ${token}`);
    }
    return first;
  }

  /** Uploads a blob monolithically (POST then PUT with the digest), skipping it when HEAD finds it. */
  async pushBlob(repo: string, digest: string, bytes: Uint8Array): Promise<void> {
    const head = await this.request(`/v2/${repo}/blobs/${digest}`, { method: "HEAD", scope: `repository:${repo}:pull,push` });
    if (head.status === 200) return;
    const start = await this.request(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    if (start.status !== 202) throw new Error(`POST blob upload for ${repo}: ${start.status} ${start.body.toString()}`);
    const location = start.headers.get("location");
    if (!location) throw new Error("upload start without Location");
    const put = new URL(location, this.target.url);
    put.searchParams.set("digest", digest);
    const done = await this.request(put.toString(), {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
      scope: `repository:${repo}:pull,push`,
    });
    if (done.status !== 201) throw new Error(`PUT blob ${digest} to ${repo}: ${done.status} ${done.body.toString()}`);
  }

  /** Reads a blob whole. */
  async getBlob(repo: string, digest: string): Promise<TestResponse> {
    return await this.request(`/v2/${repo}/blobs/${digest}`);
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Uint8Array): Promise<TestResponse> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.request(`/v2/${repo}/manifests/${reference}`, {
        method: "PUT",
        headers: { "content-type": mediaType },
        body: bytes,
      });
      if (res.status === 201) return res;
      // distribution 2.8 rewrites a repository's blob link file while a parallel push of the same blob lands,
      // and a manifest PUT checking it then reads an empty link (DIGEST_INVALID): dray asks again, so do the fixtures.
      const racing = res.status === 400 && /DIGEST_INVALID|MANIFEST_BLOB_UNKNOWN/.test(res.body.toString());
      if (!racing || attempt >= 3) throw new Error(`PUT manifest ${repo}:${reference}: ${res.status} ${res.body.toString()}`);
      await new Promise((done) => setTimeout(done, 50 * attempt));
    }
  }

  async getManifest(repo: string, reference: string, accept: string[]): Promise<TestResponse> {
    return await this.request(`/v2/${repo}/manifests/${reference}`, { headers: { accept: accept.join(", ") } });
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}
