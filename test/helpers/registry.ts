// Starts the real CNCF distribution registry (`docker-registry serve CONFIG`,
// v2.8) on a free 127.0.0.1 port with its own temporary storage, in one of
// four modes: plain HTTP, htpasswd basic auth, TLS, or bearer tokens from a
// small token server of the test's own (test/helpers/token-server.ts).
// Everything is stopped and removed when the test file ends, also on failure.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { stringify as toYaml } from "yaml";
import { makeTempDir, onCleanup } from "./tmp.js";
import { makeCertificates, makeClientCertificates, type Certificates, type ClientCertificates } from "./certs.js";
import { startTokenServer, type TokenServerHandle, type TokenServerOptions } from "./token-server.js";

export type RegistryMode = "plain" | "htpasswd" | "tls" | "token";

export interface RegistryHandle {
  mode: RegistryMode;
  /** `127.0.0.1:PORT`, what goes into `docker://HOST/repo`. */
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  url: string;
  storageDir: string;
  /** htpasswd and token modes: the one account that is accepted. */
  username?: string;
  password?: string;
  /** tls mode: PEM of the CA that signed the registry's certificate. */
  caFile?: string;
  /** tls mode: PEM text of that CA, ready for undici `connect: { ca }`. */
  caPem?: string;
  /** tls mode: a folder holding `ca.crt`, for `skopeo --cert-dir` / containers certs.d. */
  certDir?: string;
  /** tls mode with `clientCertificates`: the pair the registry accepts, and a stranger's it refuses. */
  client?: ClientCertificates;
  /** token mode: the token server in front of which the registry sits. */
  tokenServer?: TokenServerHandle;
  /**
   * token mode: `--trust-realm 127.0.0.1:TOKENPORT`. The token server listens on
   * another port of the registry's host over plain HTTP, which gets a credential
   * only when trusted (issue 26 item 6); other modes: no arguments.
   */
  trustRealm: string[];
  /** The `Authorization` header value for Basic auth with username/password (htpasswd and token modes). */
  basicAuth?: string;
  /** Last lines the registry wrote (its log file), for assertion messages. */
  logs(): string;
  /** Stops the process and starts it again on the same port and storage. */
  restart(): Promise<void>;
  /** Stops the process and removes nothing (storage stays until the suite ends). Idempotent. */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  mode?: RegistryMode;
  /** Enables `DELETE` of manifests and blobs (storage.delete.enabled). */
  deleteEnabled?: boolean;
  /** token mode: how the token server behaves (anonymous pull, expiry, …). */
  token?: TokenServerOptions;
  /**
   * token mode: the realm the registry advertises instead of the token
   * server's loopback URL (the vendor emulation names it on another host,
   * e.g. https://auth.example.test/token, reached through the forward proxy).
   */
  realm?: string;
  /**
   * distribution's own manifest validation instead of none: every foreign layer URL is refused
   * unless it matches one of `allow` (validation.manifests.urls.allow), as a default install does.
   */
  validation?: { allow?: string[] };
  /** tls mode: the registry asks every client for a certificate signed by a client CA of the test's own (mTLS). */
  clientCertificates?: boolean;
}

const REGISTRY_BIN = "/usr/bin/docker-registry";
const SKOPEO_BIN = "/usr/bin/skopeo";
const TOOL_PATHS: Record<"docker-registry" | "skopeo" | "podman" | "umoci", string> = {
  "docker-registry": REGISTRY_BIN,
  skopeo: SKOPEO_BIN,
  podman: "/usr/bin/podman",
  umoci: "/usr/bin/umoci",
};
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const LOG_KEEP_CHARS = 16_000;

/**
 * Fails loudly when a real peer is missing. Tests call it in `before`, so a
 * machine without the registry or skopeo fails the suite instead of skipping:
 * under CI=true that is required, and outside CI a silent skip would hide that
 * nothing was tested.
 */
export function requireTool(name: keyof typeof TOOL_PATHS): void {
  const path = TOOL_PATHS[name];
  try {
    accessSync(path, constants.X_OK);
  } catch {
    const how = "install it with: apt-get install -y docker-registry skopeo umoci podman (see .ci/run)";
    const ci = process.env.CI === "true" ? " (CI=true: the suite must not skip)" : "";
    throw new Error(`required test peer ${name} not found at ${path}${ci}; ${how}`);
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface ModeSetup {
  auth?: Record<string, unknown>;
  tls?: { certificate: string; key: string; clientcas?: string[] };
  extra: Partial<RegistryHandle>;
}

function htpasswdEntry(username: string, password: string): string {
  const r = spawnSync("htpasswd", ["-nbB", username, password], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(`htpasswd failed (apt-get install -y apache2-utils): ${r.error?.message ?? r.stderr}`);
  }
  return r.stdout.trim() + "\n";
}

async function setupMode(mode: RegistryMode, dir: string, opts: StartRegistryOptions): Promise<ModeSetup> {
  const username = "dray";
  const password = `pw-${randomBytes(6).toString("hex")}`;
  const basicAuth = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  switch (mode) {
    case "plain":
      return { extra: {} };
    case "htpasswd": {
      const path = join(dir, "htpasswd");
      writeFileSync(path, htpasswdEntry(username, password));
      return { auth: { htpasswd: { realm: "dray-test", path } }, extra: { username, password, basicAuth } };
    }
    case "tls": {
      const certs: Certificates = makeCertificates(join(dir, "certs"));
      const certDir = join(dir, "certs.d");
      mkdirSync(certDir);
      writeFileSync(join(certDir, "ca.crt"), certs.caPem);
      const tls: ModeSetup["tls"] = { certificate: certs.serverCertFile, key: certs.serverKeyFile };
      if (!opts.clientCertificates) return { tls, extra: { caFile: certs.caFile, caPem: certs.caPem, certDir } };
      const client = makeClientCertificates(join(dir, "client"));
      return { tls: { ...tls, clientcas: [client.clientCaFile] }, extra: { caFile: certs.caFile, caPem: certs.caPem, certDir, client } };
    }
    case "token": {
      const tokenServer = await startTokenServer({ ...opts.token, username, password, dir: join(dir, "token") });
      return {
        auth: {
          token: {
            realm: opts.realm ?? tokenServer.realm,
            service: tokenServer.service,
            issuer: tokenServer.issuer,
            rootcertbundle: tokenServer.certFile,
          },
        },
        extra: { username, password, basicAuth, tokenServer, trustRealm: ["--trust-realm", new URL(tokenServer.url).host] },
      };
    }
  }
}

function registryConfig(port: number, storageDir: string, opts: StartRegistryOptions, setup: ModeSetup): string {
  const http: Record<string, unknown> = {
    addr: `127.0.0.1:${port}`,
    secret: randomBytes(16).toString("hex"),
    headers: { "X-Content-Type-Options": ["nosniff"] },
  };
  if (setup.tls) http.tls = setup.tls;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "warn", formatter: "text", accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: opts.deleteEnabled === true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
    // Accept any manifest the tests build (foreign layer URLs included), unless the test asks for distribution's checks.
    validation: opts.validation
      ? { manifests: { urls: opts.validation.allow ? { allow: opts.validation.allow } : {} } }
      : { disabled: true },
  };
  if (setup.auth) config.auth = setup.auth;
  return toYaml(config);
}

/** The registry reads REGISTRY_* variables as config overrides (REGISTRY_AUTH_FILE would become auth.file): drop them. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("REGISTRY_")) env[k] = v;
  return env;
}

/** Resolves once `/v2/` answers with any HTTP status (401 counts: the server is up). */
async function probe(url: string, caPem: string | undefined, client?: ClientCertificates): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const target = new URL("/v2/", url);
    const req =
      target.protocol === "https:"
        ? httpsRequest(target, {
            method: "GET",
            ca: caPem,
            timeout: 1000,
            ...(client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {}),
          })
        : httpRequest(target, { method: "GET", timeout: 1000 });
    // Only the registry's own answer counts: on a port another test's server took between freePort() and this
    // registry's bind (it then exits, "address already in use"), a TLS server answers plain HTTP with a 400.
    req.on("response", (res) => {
      res.resume();
      resolve(res.headers["docker-distribution-api-version"] !== undefined);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * The registry writes its log into a file, not a pipe: a test blocked in
 * spawnSync (the README test runs every example so) reads no pipe, and a
 * registry whose 64 KiB pipe filled up blocks in its logger, holding the
 * lock every request handler logs under, so every manifest request hung.
 */
class RegistryProcess {
  private child: ChildProcess | undefined;
  private spawnError = "";
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly configFile: string,
    private readonly url: string,
    private readonly caPem: string | undefined,
    private readonly client?: ClientCertificates,
  ) {}

  private get logFile(): string {
    return join(dirname(this.configFile), "registry.log");
  }

  logs(): string {
    let text = "";
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      // Not started yet, or its folder is already removed.
    }
    return (text + this.spawnError).slice(-LOG_KEEP_CHARS);
  }

  async start(): Promise<void> {
    // A first start begins the file (a port retry's earlier attempt is not this one); a restart adds to it.
    const fd = openSync(this.logFile, this.child ? "a" : "w", 0o600);
    let child: ChildProcess;
    try {
      child = spawn(REGISTRY_BIN, ["serve", this.configFile], { env: registryEnv(), stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    let exitCode: number | null | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.on("exit", (code, signal) => {
        exitCode = code ?? (signal ? -1 : null);
        resolve();
      });
      child.on("error", (err) => {
        this.spawnError += `spawn error: ${err.message}\n`;
        exitCode = -1;
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) throw new Error(`docker-registry exited early (code ${exitCode}):\n${this.logs()}`);
      if (await probe(this.url, this.caPem, this.client)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    throw new Error(`docker-registry did not answer /v2/ within ${READY_TIMEOUT_MS} ms:\n${this.logs()}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  killNow(): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/**
 * Starts a registry. It is stopped and its temporary folder removed when the
 * test file's tests have ended (also on failure) and at process exit; a suite
 * that wants it gone earlier calls `after(() => registry.stop())`. Start it in
 * `before` of a `describe` to share one registry per suite.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RegistryHandle> {
  requireTool("docker-registry");
  const mode = opts.mode ?? "plain";
  const dir = makeTempDir(`dray-registry-${mode}-`);
  const storageDir = join(dir, "storage");
  mkdirSync(storageDir);
  const setup = await setupMode(mode, dir, opts);
  const scheme = mode === "tls" ? "https" : "http";
  // The port may be taken between freePort() and the registry's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configFile = join(dir, "config.yml");
    writeFileSync(configFile, registryConfig(port, storageDir, opts, setup));
    const url = `${scheme}://127.0.0.1:${port}`;
    const proc = new RegistryProcess(configFile, url, setup.extra.caPem, setup.extra.client);
    const stopAll = async (): Promise<void> => {
      await proc.stop();
      await setup.extra.tokenServer?.stop();
    };
    onCleanup(stopAll, () => proc.killNow());
    try {
      await proc.start();
    } catch (err) {
      if (attempt < 3 && /address already in use/.test(proc.logs())) continue;
      await stopAll();
      throw err;
    }
    return {
      mode,
      host: `127.0.0.1:${port}`,
      port,
      url,
      storageDir,
      trustRealm: [],
      ...setup.extra,
      logs: () => proc.logs(),
      restart: async () => {
        await proc.stop();
        await proc.start();
      },
      stop: stopAll,
    };
  }
}
