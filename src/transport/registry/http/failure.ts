/**
 * A failure below HTTP (DNS, TCP, TLS, a proxy, timeouts) as a NetworkError
 * in words that name the request, where Node and undici say
 * `getaddrinfo ENOTFOUND` or `UND_ERR_CONNECT_TIMEOUT`.
 */
import { DrayError, NetworkError } from "../../../errors.js";
import { failedProxy, proxyFailureText } from "./proxy.js";
import { redactURL } from "./redact.js";
import { networkErrorCode } from "./retry.js";
import { clientCertificateProblem, type TlsSettings } from "./tls.js";

/** Turns a low-level failure into a typed error in words; an abort stays the caller's reason. */
export function translateError(
  err: unknown,
  req: { method: string; url: URL; signal?: AbortSignal | undefined },
  timeouts?: { connectMs: number; headersMs: number; bodyMs: number },
  tls?: TlsSettings,
): unknown {
  if (req.signal?.aborted) return req.signal.reason ?? err;
  if (err instanceof DrayError) return err;
  const code = networkErrorCode(err);
  const what = `${req.method} ${redactURL(req.url)}`;
  const certProblem = clientCertificateProblem(`${code ?? ""} ${(err as Error)?.message ?? String(err)}`, req.url.host, tls);
  if (certProblem) return new NetworkError(`${what} failed: ${certProblem}`, { where: redactURL(req.url), cause: err });
  const ms =
    code === "UND_ERR_CONNECT_TIMEOUT" ? timeouts?.connectMs : code === "UND_ERR_HEADERS_TIMEOUT" ? timeouts?.headersMs : timeouts?.bodyMs;
  const seconds = ms === undefined ? undefined : ms / 1000;
  const proxy = failedProxy(err, req.url);
  const viaProxy = proxy && proxyFailureText(err, proxy, what, seconds);
  return new NetworkError(viaProxy || networkFailureText(err, what, req.url, seconds), {
    where: redactURL(req.url),
    cause: err,
  });
}

/**
 * A failure below HTTP (DNS, TCP, TLS, timeouts) in words, naming the request
 * (`GET https://host/v2/app/manifests/1`): what a user can act on, where Node
 * and undici say `getaddrinfo ENOTFOUND` or `UND_ERR_CONNECT_TIMEOUT`.
 * `seconds` is the timeout that applied, when the caller knows it.
 */
export function networkFailureText(err: unknown, request: string, url: URL, seconds?: number): string {
  const code = networkErrorCode(err) ?? "";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const hostPort = `${url.hostname}:${port}`;
  const within = seconds === undefined ? "" : ` within ${seconds} s`;
  const said = (err as Error | undefined)?.message ?? String(err);
  switch (code) {
    case "ENOTFOUND":
      return `cannot resolve ${host} (no such host): ${request}`;
    case "EAI_AGAIN":
      return `cannot resolve ${host} (the DNS lookup failed; try again): ${request}`;
    case "ECONNREFUSED":
      return `nothing listens on ${hostPort} (is the registry running?): ${request}`;
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return `${hostPort} did not accept a connection${within}: ${request}`;
    case "UND_ERR_HEADERS_TIMEOUT":
      return `${hostPort} accepted the connection but sent nothing${within}: ${request}`;
    case "UND_ERR_BODY_TIMEOUT":
      return `${hostPort} stopped sending in the middle of its answer (silent${within ? ` for ${seconds} s` : ""}): ${request}`;
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
    case "EPIPE":
      return `${hostPort} closed the connection: ${request}`;
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return `no route to ${host} (network unreachable): ${request}`;
    default:
      // TLS failures keep their own words ("self-signed certificate"); the caller adds the --ca-file hint.
      return `${request} failed: ${said}${code && !said.includes(code) ? ` (${code})` : ""}`;
  }
}
