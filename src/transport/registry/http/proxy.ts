/**
 * The forward proxy from the environment, as undici's EnvHttpProxyAgent picks it (https_proxy,
 * HTTPS_PROXY, then the HTTP one for an https URL; http_proxy, HTTP_PROXY for http), and telling
 * a failure of the proxy itself from one of the registry behind it: without a proxy named, "nothing
 * listens on registry.example.com:443" sent users to the registry when their proxy was down.
 */
import { isLoopbackDomain } from "../../../ref/reference.js";
import { networkErrorCode } from "./retry.js";

export interface ProxyInUse {
  /** `host:port` only: the proxy URL's credentials never reach a message. */
  hostPort: string;
  hostname: string;
  port: string;
  /** The variable that named it (`HTTPS_PROXY`, `http_proxy`, …). */
  variable: string;
}

/** True when any proxy variable is set (the dispatcher then honours them and NO_PROXY). */
export function proxyConfigured(): boolean {
  const env = process.env;
  return Boolean(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);
}

/** undici's pick of one pair: the lower-case variable when it is set at all (even empty), else the upper-case one. */
function pick(lower: string, upper: string): { variable: string; value: string } | undefined {
  const variable = process.env[lower] !== undefined ? lower : upper;
  const value = process.env[variable];
  return value ? { variable, value } : undefined;
}

/** The proxy a request to `url` is sent through, if any (loopback never is; NO_PROXY is left to the caller's check). */
export function proxyFor(url: URL): ProxyInUse | undefined {
  if (isLoopbackDomain(url.host)) return undefined;
  const chosen = (url.protocol === "https:" ? pick("https_proxy", "HTTPS_PROXY") : undefined) ?? pick("http_proxy", "HTTP_PROXY");
  if (chosen === undefined) return undefined;
  const { variable, value } = chosen;
  let proxy: URL;
  try {
    proxy = new URL(value);
  } catch {
    return undefined;
  }
  const port = proxy.port || (proxy.protocol === "https:" ? "443" : "80");
  return { hostPort: `${proxy.hostname}:${port}`, hostname: proxy.hostname.replace(/^\[|\]$/g, ""), port, variable };
}

/**
 * The proxy, when `err` is a failure to reach it: the address refused or timed out, or the name
 * that did not resolve, is the proxy's (with NO_PROXY matching, the request went direct and the
 * address is the registry's).
 */
export function failedProxy(err: unknown, url: URL): ProxyInUse | undefined {
  const proxy = proxyFor(url);
  if (!proxy) return undefined;
  for (let e = err, depth = 0; depth < 5 && typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause, depth++) {
    const { address, port, hostname, message } = e as { address?: unknown; port?: unknown; hostname?: unknown; message?: unknown };
    if (typeof address === "string" && address === proxy.hostname && String(port) === proxy.port) return proxy;
    if (typeof hostname === "string" && hostname === proxy.hostname) return proxy;
    // undici's ConnectTimeoutError: "Connect Timeout Error (attempted address: HOST:PORT, timeout: N ms)".
    if (typeof message === "string" && message.includes(`attempted address: ${proxy.hostPort},`)) return proxy;
  }
  return undefined;
}

/** A failure to reach the proxy in words, naming it and the request it was carrying. */
export function proxyFailureText(err: unknown, proxy: ProxyInUse, request: string, seconds?: number): string | undefined {
  const named = `the proxy ${proxy.hostPort} (${proxy.variable})`;
  switch (networkErrorCode(err)) {
    case "ECONNREFUSED":
      return `${named} refused the connection (nothing listens there; is the proxy running?): ${request}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve ${named}: ${request}`;
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return `${named} did not accept a connection${seconds === undefined ? "" : ` within ${seconds} s`}: ${request}`;
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return `no route to ${named}: ${request}`;
    default:
      return undefined;
  }
}
