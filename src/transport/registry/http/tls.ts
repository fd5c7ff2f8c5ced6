import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError, whyUnreadable } from "../../../errors.js";
import { caFileProblem } from "../../ca-file.js";
import type { TlsFlagNames } from "../../types.js";

/**
 * The TLS material for one registry host: which CAs to trust beside the
 * system's, which client certificate to present (mTLS), and whether to verify
 * at all. Found as docker, podman and skopeo find it (containers-certs.d(5)):
 * explicit flags first, else the host's folder under a certs.d root.
 */

/** What the user asked for, per side (flags or the sync YAML); every field optional. */
export interface TlsRequest {
  insecure?: boolean;
  caFile?: string;
  /** A containers-certs.d folder for this host (`*.crt` CAs, `NAME.cert` + `NAME.key` client pairs); replaces the search. */
  certDir?: string;
  clientCert?: string;
  clientKey?: string;
  /** The flag each file came from (a side's own, `--src-ca-file`), for messages. */
  tlsFlags?: TlsFlagNames;
}

/** The resolved material: every file named, none read yet (a rotated certificate is read again on a new connection). */
export interface TlsSettings {
  insecure: boolean;
  caFiles: string[];
  client?: ClientPair;
  /** Where the client pair came from, for messages (`--client-cert`, `certs.d folder /etc/…`). */
  clientSource?: string;
}

export interface ClientPair {
  cert: string;
  key: string;
}

/**
 * The certs.d roots searched for `HOST[:PORT]/`, in containers/image's order:
 * the user's own folder first, then the system's, then docker's. The first
 * folder that exists for the host is used, and only it.
 */
export function certsDirRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  return [join(home, ".config", "containers", "certs.d"), "/etc/containers/certs.d", "/etc/docker/certs.d"];
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The certs.d folder found for `domain` (`HOST` or `HOST:PORT`), if any. */
export function findCertsDir(domain: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  // A hostname never holds a path separator; refuse to look anything up for one that does.
  if (domain.includes("/") || domain.startsWith(".")) return undefined;
  return certsDirRoots(env)
    .map((root) => join(root, domain))
    .find(isDirectory);
}

/** Reads a certs.d folder's listing: CA files and client pairs, checked for halves without their other half. */
export function readCertsDir(dir: string, flag: string): { caFiles: string[]; pairs: ClientPair[] } {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    // ENOTDIR is also a file given where a folder belongs, which "does not exist" would misname.
    const why = (err as NodeJS.ErrnoException).code === "ENOTDIR" && isFile(dir) ? "is a file, not a folder" : whyUnreadable(err);
    throw new UsageError(`${flag} ${dir} ${why}`, { where: dir });
  }
  const caFiles = names.filter((n) => n.endsWith(".crt")).map((n) => join(dir, n));
  const pairs: ClientPair[] = [];
  for (const name of names.filter((n) => n.endsWith(".cert"))) {
    const key = `${name.slice(0, -".cert".length)}.key`;
    if (!names.includes(key))
      throw new UsageError(`${flag} ${dir} has the client certificate ${name} without its key ${key}`, { where: dir });
    pairs.push({ cert: join(dir, name), key: join(dir, key) });
  }
  for (const name of names.filter((n) => n.endsWith(".key"))) {
    const cert = `${name.slice(0, -".key".length)}.cert`;
    if (!names.includes(cert))
      throw new UsageError(`${flag} ${dir} has the client key ${name} without its certificate ${cert}`, { where: dir });
  }
  if (pairs.length > 1) {
    throw new UsageError(`${flag} ${dir} holds ${pairs.length} client certificate pairs; keep one (dray presents a single certificate)`, {
      where: dir,
    });
  }
  return { caFiles, pairs };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Client certificates and keys given as a pipe, FIFO or device, by path: such a file can be read only once. */
const readOnce = new Map<string, string>();

/**
 * A client certificate's or key's PEM. A regular file is read again for each new connection (a rotated
 * certificate is picked up); a pipe (`--client-key <(vault read …)`), FIFO or device is read once and kept,
 * since a second read would find it empty. Throws Node's error (a directory: EISDIR).
 */
export function readClientPem(file: string): string {
  const kept = readOnce.get(file);
  if (kept !== undefined) return kept;
  const text = readFileSync(file, "utf8");
  if (!statSync(file).isFile()) readOnce.set(file, text);
  return text;
}

function readPem(file: string, flag: string): string {
  try {
    return readClientPem(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file} ${whyUnreadable(err)}`, { where: file });
  }
}

/**
 * Checks a client pair before any request: both files readable, the
 * certificate a certificate, the key a key, and the key the certificate's
 * own (a mismatch would otherwise surface as a handshake failure).
 */
export function checkClientPair(pair: ClientPair, certFlag: string, keyFlag: string): void {
  const certPem = readPem(pair.cert, certFlag);
  const keyPem = readPem(pair.key, keyFlag);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new UsageError(`${certFlag} ${pair.cert} holds no PEM certificate`, { where: pair.cert });
  }
  // An expired (or not yet valid) certificate is refused by the registry with words that do not say why: say it here.
  // (validTo/validFrom are OpenSSL's text, "Dec  6 10:19:46 2026 GMT": Node 20 has no validToDate.)
  const now = Date.now();
  const until = new Date(cert.validTo);
  const from = new Date(cert.validFrom);
  if (until.getTime() < now)
    throw new UsageError(`${certFlag} ${pair.cert} expired on ${until.toISOString()}: renew it`, { where: pair.cert });
  if (from.getTime() > now)
    throw new UsageError(`${certFlag} ${pair.cert} is not valid before ${from.toISOString()}`, { where: pair.cert });
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    throw new UsageError(`${keyFlag} ${pair.key} holds no unencrypted PEM private key`, { where: pair.key });
  }
  if (!matches) {
    throw new UsageError(
      `the client key ${pair.key} does not match the certificate ${pair.cert} (${keyFlag} must be that certificate's key)`,
      {
        where: pair.key,
      },
    );
  }
}

/** Checks a CA file before any request (caFileProblem), so a wrong file is a usage error and not "self-signed certificate" later. */
export function checkCaFile(file: string, flag: string): void {
  const problem = caFileProblem(file);
  if (problem !== undefined) throw new UsageError(`${flag} ${problem}`, { where: file });
}

/**
 * The TLS settings for `domain`: `--client-cert`/`--client-key` first, then
 * `--cert-dir` (the folder itself, as skopeo's --cert-dir), else the host's
 * certs.d folder if one exists. `--ca-file` adds to the folder's CAs.
 */
export function resolveTls(domain: string, req: TlsRequest, env: NodeJS.ProcessEnv = process.env): TlsSettings {
  const settings: TlsSettings = { insecure: req.insecure === true, caFiles: [] };
  if ((req.clientCert === undefined) !== (req.clientKey === undefined)) {
    // The flag the user typed (`--src-client-key`), and its partner of the same side.
    const given =
      req.clientCert === undefined ? (req.tlsFlags?.clientKey ?? "--client-key") : (req.tlsFlags?.clientCert ?? "--client-cert");
    const side = /^--(?:src-|dest-)?/.exec(given)?.[0] ?? "--";
    throw new UsageError(`${given} needs ${side}client-${req.clientCert === undefined ? "cert" : "key"}`);
  }
  const dir = req.certDir ?? findCertsDir(domain, env);
  if (dir !== undefined) {
    const flag = req.certDir !== undefined ? (req.tlsFlags?.certDir ?? "--cert-dir") : "certs.d folder";
    const found = readCertsDir(dir, flag);
    // Each CA file read now, as --ca-file is: an unreadable or garbled one would surface later as raw EACCES or "not trusted".
    for (const file of found.caFiles) checkCaFile(file, `${flag} ${dir}:`);
    settings.caFiles.push(...found.caFiles);
    const pair = found.pairs[0];
    if (pair) {
      checkClientPair(pair, `${flag} ${dir}:`, `${flag} ${dir}:`);
      settings.client = pair;
      settings.clientSource = `${flag} ${dir}`;
    }
  }
  if (req.caFile !== undefined) {
    checkCaFile(req.caFile, req.tlsFlags?.caFile ?? "--ca-file");
    settings.caFiles.push(req.caFile);
  }
  if (req.clientCert !== undefined && req.clientKey !== undefined) {
    const pair = { cert: req.clientCert, key: req.clientKey };
    const certFlag = req.tlsFlags?.clientCert ?? "--client-cert";
    checkClientPair(pair, certFlag, req.tlsFlags?.clientKey ?? "--client-key");
    settings.client = pair;
    settings.clientSource = certFlag;
  }
  return settings;
}

/** A key for caches that must not share connections across different TLS material. */
export function tlsKey(tls: TlsSettings): string {
  return [tls.insecure, tls.caFiles.join(","), tls.client?.cert ?? "", tls.client?.key ?? ""].join("|");
}

/** OpenSSL alerts that mean the server wanted a client certificate and got none. */
const CERT_REQUIRED_RE = /certificate required|ALERT_CERTIFICATE_REQUIRED|alert handshake failure|ALERT_HANDSHAKE_FAILURE/i;
/** Alerts that mean the server looked at the client certificate and refused it. */
const CERT_REFUSED_RE =
  /bad certificate|unknown ca|certificate unknown|certificate expired|certificate revoked|unsupported certificate|access denied|ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|ACCESS_DENIED)/i;

/**
 * Words for a TLS failure that involves the client certificate, or
 * undefined when it is not one: "asked for a client certificate and none
 * was given" and "refused the certificate FILE" are told apart.
 */
export function clientCertificateProblem(text: string, domain: string, tls: TlsSettings | undefined): string | undefined {
  if (tls?.client === undefined) {
    if (!CERT_REQUIRED_RE.test(text) && !/ALERT_BAD_CERTIFICATE|bad certificate/i.test(text)) return undefined;
    return `${domain} asked for a client certificate and none was given (use --cert-dir DIR with a NAME.cert/NAME.key pair, or --client-cert FILE --client-key FILE)`;
  }
  if (CERT_REFUSED_RE.test(text) || CERT_REQUIRED_RE.test(text)) {
    return `${domain} refused the client certificate ${tls.client.cert} (from ${tls.clientSource ?? "--client-cert"}): is it signed by a CA the registry trusts, and still valid?`;
  }
  return undefined;
}

/**
 * Asks the server once more, with node:tls directly, why it closed a TLS
 * connection before answering. Over TLS 1.3 a server that refuses the client
 * certificate sends its alert after the client's handshake is done, and
 * undici reports only "other side closed"; node:tls surfaces the alert
 * (ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE, …). Only called on that failure.
 */
export async function probeTlsAlert(url: URL, options: Record<string, unknown>, timeoutMs = 5000): Promise<Error | undefined> {
  const { connect } = process.getBuiltinModule("node:tls");
  return await new Promise<Error | undefined>((resolve) => {
    const socket = connect(
      {
        ...options,
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 443),
        servername: undefined,
        ALPNProtocols: ["http/1.1"],
      },
      () => {
        socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
      },
    );
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (err: Error | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    };
    socket.on("error", (err: Error) => finish(err));
    socket.on("data", () => finish(undefined));
    socket.on("close", () => finish(undefined));
  });
}
