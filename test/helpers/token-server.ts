// A small token server implementing the docker registry token protocol, for
// the registry's `auth.token` mode: GET with Basic auth and service/scope
// parameters, and the OAuth2 POST form (grant_type=password|refresh_token).
// Tokens are JWTs signed ES256 by a certificate made with openssl; the
// certificate is both the registry's rootcertbundle and the JWT's `x5c`
// header, which distribution 2.8 verifies against that bundle.
import { createPrivateKey, randomBytes, sign, timingSafeEqual, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { makeSigningCertificate } from "./certs.js";

export interface TokenServerOptions {
  /** Grant `pull` to anonymous requests (no credentials), as a public repository would. Default false. */
  anonymousPull?: boolean;
  /** Token lifetime in seconds (`expires_in`). Default 300. */
  expiresIn?: number;
  /** Which field(s) carry the token in GET answers; both by default, as Docker Hub does. */
  tokenField?: "token" | "access_token" | "both";
  /** Repositories (exact names) the account may not push to; pull stays allowed. */
  readOnlyRepos?: string[];
}

export interface TokenRequestRecord {
  method: "GET" | "POST";
  /** Path and query as received. */
  url: string;
  service: string | undefined;
  /** Each `scope` parameter, as sent (GET may repeat it; POST separates with spaces). */
  scopes: string[];
  /** The user name of Basic auth or of the password grant; undefined when anonymous. */
  username: string | undefined;
  /** POST only. */
  grantType: string | undefined;
  clientId: string | undefined;
  accessType: string | undefined;
  /** The status the server answered. */
  status: number;
  /** What was granted: `repository:NAME:ACTIONS` strings. */
  granted: string[];
}

export interface TokenServerHandle {
  url: string;
  /** The `realm` the registry advertises: `${url}/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate the registry trusts (auth.token.rootcertbundle). */
  certFile: string;
  /** Every request in order. */
  log: TokenRequestRecord[];
  /** Number of requests seen so far. */
  readonly requests: number;
  /** Changes behaviour for later requests. */
  options: TokenServerOptions;
  /** Refresh tokens issued so far (valid for the refresh_token grant). */
  refreshTokens: Set<string>;
  stop(): Promise<void>;
}

interface Account {
  username: string;
  password: string;
}

interface Grant {
  status: number;
  body: Record<string, unknown>;
  username: string | undefined;
  granted: string[];
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `repository:NAME:pull,push` → granted subset, given the account's rights. */
function grantScope(
  scope: string,
  authenticated: boolean,
  opts: TokenServerOptions,
): { type: string; name: string; actions: string[] } | undefined {
  // The name may contain ':' only in the registry:catalog:* form, so split from both ends.
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const wanted = scope
    .slice(last + 1)
    .split(",")
    .filter((a) => a !== "");
  let allowed: string[];
  if (type === "repository") {
    if (authenticated) allowed = opts.readOnlyRepos?.includes(name) ? ["pull"] : ["pull", "push", "delete", "*"];
    else allowed = opts.anonymousPull ? ["pull"] : [];
  } else if (type === "registry" && name === "catalog") {
    allowed = authenticated ? ["*"] : [];
  } else {
    allowed = [];
  }
  const actions = wanted.filter((a) => allowed.includes(a));
  return { type, name, actions };
}

class TokenIssuer {
  private readonly key: KeyObject;

  constructor(
    keyPem: string,
    private readonly certDerBase64: string,
    readonly issuer: string,
    readonly service: string,
  ) {
    this.key = createPrivateKey(keyPem);
  }

  issue(subject: string, access: Array<{ type: string; name: string; actions: string[] }>, expiresIn: number): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [this.certDerBase64] };
    const claims = {
      iss: this.issuer,
      sub: subject,
      aud: this.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    // JWS ES256 wants the raw r||s signature, not DER.
    const signature = sign("sha256", Buffer.from(signingInput), { key: this.key, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${b64url(signature)}`;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function basicUser(header: string | undefined): Account | undefined | "malformed" {
  if (!header) return undefined;
  const m = /^Basic\s+(.+)$/i.exec(header);
  if (!m) return "malformed";
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = text.indexOf(":");
  if (i < 0) return "malformed";
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

export async function startTokenServer(
  config: TokenServerOptions & { username: string; password: string; dir: string },
): Promise<TokenServerHandle> {
  const signing = makeSigningCertificate(config.dir);
  const service = "dray-test-registry";
  const issuer = "dray-test-token-issuer";
  const tokens = new TokenIssuer(signing.keyPem, signing.certDerBase64, issuer, service);
  const account: Account = { username: config.username, password: config.password };
  const { username: _u, password: _p, dir: _d, ...rest } = config;
  const options: TokenServerOptions = { ...rest };
  const log: TokenRequestRecord[] = [];
  const refreshTokens = new Set<string>();

  const valid = (a: Account): boolean => safeEqual(a.username, account.username) && safeEqual(a.password, account.password);

  const grant = (user: string | undefined, scopes: string[], svc: string | undefined, offline: boolean): Grant => {
    if (svc !== undefined && svc !== service) {
      return { status: 400, body: { errors: [{ code: "UNSUPPORTED", message: `unknown service ${svc}` }] }, username: user, granted: [] };
    }
    const access = scopes.map((s) => grantScope(s, user !== undefined, options)).filter((x) => x !== undefined);
    const expiresIn = options.expiresIn ?? 300;
    const token = tokens.issue(user ?? "", access, expiresIn);
    const body: Record<string, unknown> = { expires_in: expiresIn, issued_at: new Date().toISOString() };
    const field = options.tokenField ?? "both";
    if (field !== "access_token") body.token = token;
    if (field !== "token") body.access_token = token;
    if (offline && user !== undefined) {
      const refresh = randomBytes(16).toString("hex");
      refreshTokens.add(refresh);
      body.refresh_token = refresh;
    }
    const granted = access.filter((a) => a.actions.length > 0).map((a) => `${a.type}:${a.name}:${a.actions.join(",")}`);
    return { status: 200, body, username: user, granted };
  };

  const denied = (message: string, user?: string): Grant => ({
    status: 401,
    body: { errors: [{ code: "UNAUTHORIZED", message }] },
    username: user,
    granted: [],
  });

  const handleGet = (req: IncomingMessage, url: URL): Grant => {
    const scopes = url.searchParams
      .getAll("scope")
      .flatMap((s) => s.split(" "))
      .filter((s) => s !== "");
    const svc = url.searchParams.get("service") ?? undefined;
    const creds = basicUser(req.headers.authorization);
    if (creds === "malformed") return denied("malformed Authorization header");
    // A refresh token as the Basic password (what clients send when the OAuth2 POST is missing).
    if (creds && !valid(creds) && refreshTokens.has(creds.password)) return grant(account.username, scopes, svc, false);
    if (creds && !valid(creds)) return denied("invalid username or password", creds.username);
    return grant(creds?.username, scopes, svc, url.searchParams.get("offline_token") === "true");
  };

  const handlePost = (form: URLSearchParams): Grant => {
    const scopes = (form.get("scope") ?? "").split(" ").filter((s) => s !== "");
    const svc = form.get("service") ?? undefined;
    const offline = form.get("access_type") === "offline";
    switch (form.get("grant_type")) {
      case "password": {
        const creds = { username: form.get("username") ?? "", password: form.get("password") ?? "" };
        if (!valid(creds)) return denied("invalid username or password", creds.username);
        return grant(creds.username, scopes, svc, offline);
      }
      case "refresh_token": {
        const refresh = form.get("refresh_token") ?? "";
        if (!refreshTokens.has(refresh)) return denied("unknown refresh token");
        return grant(account.username, scopes, svc, offline);
      }
      default:
        return { status: 400, body: { error: "unsupported_grant_type" }, username: undefined, granted: [] };
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/token" || (req.method !== "GET" && req.method !== "POST")) {
      res.statusCode = 404;
      res.end();
      return;
    }
    let result: Grant;
    let form: URLSearchParams | undefined;
    if (req.method === "GET") {
      result = handleGet(req, url);
    } else {
      form = new URLSearchParams(await readBody(req));
      result = handlePost(form);
    }
    log.push({
      method: req.method,
      url: req.url ?? "",
      service: form ? (form.get("service") ?? undefined) : (url.searchParams.get("service") ?? undefined),
      scopes: form
        ? (form.get("scope") ?? "").split(" ").filter((s) => s !== "")
        : url.searchParams
            .getAll("scope")
            .flatMap((s) => s.split(" "))
            .filter((s) => s !== ""),
      username: result.username,
      grantType: form?.get("grant_type") ?? undefined,
      clientId: form?.get("client_id") ?? undefined,
      accessType: form?.get("access_type") ?? undefined,
      status: result.status,
      granted: result.granted,
    });
    res.statusCode = result.status;
    res.setHeader("Content-Type", "application/json");
    if (result.status === 401) res.setHeader("WWW-Authenticate", 'Basic realm="dray-test-token"');
    res.end(JSON.stringify(result.body));
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certFile: signing.certFile,
    log,
    get requests(): number {
      return log.length;
    },
    options,
    refreshTokens,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
