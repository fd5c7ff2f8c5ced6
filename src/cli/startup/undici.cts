/**
 * The bundled CLI's stand-in for src/transport/registry/http/undici.cts (the
 * bundler swaps one for the other, bundle-plugin.mts): the same exports, with
 * undici's dispatcher and request API bundled and its index left out. Literal
 * `require` calls, so that esbuild follows them into the bundle.
 */
import type { Agent, Dispatcher, EnvHttpProxyAgent, buildConnector } from "undici";

// The same types as src/transport/registry/http/undici.cts (nothing outside src/transport/ imports its folders).
type AgentClass = new (options: Agent.Options) => Dispatcher;
type ProxyAgentClass = new (options: EnvHttpProxyAgent.Options) => Dispatcher;

/** Proxies are rare: the full undici (for EnvHttpProxyAgent) is loaded only then, as the library does. */
export function loadProxyAgent(): ProxyAgentClass {
  return (require("undici") as { EnvHttpProxyAgent: ProxyAgentClass }).EnvHttpProxyAgent;
}

/**
 * undici's Agent without the rest of undici. Its index module also loads
 * fetch, WebSocket, EventSource, the cache stores and the mocks (measured:
 * ~60 ms of a ~200 ms `dray inspect`); dray needs only the dispatcher and the
 * request API that the index attaches to Dispatcher.prototype, done here the
 * same way. Should undici move those files, the whole package is loaded.
 */
export function loadAgent(): AgentClass {
  try {
    const dispatcher = require("undici/lib/dispatcher/dispatcher.js") as { prototype: object };
    const api = require("undici/lib/api/index.js") as object;
    const agent = require("undici/lib/dispatcher/agent.js") as AgentClass;
    if (!("request" in dispatcher.prototype)) Object.assign(dispatcher.prototype, api);
    return agent;
  } catch {
    return (require("undici") as { Agent: AgentClass }).Agent;
  }
}

/** undici's TLS connector factory (client certificates are rare: loaded only then). */
export function loadBuildConnector(): typeof buildConnector {
  try {
    return require("undici/lib/core/connect.js") as typeof buildConnector;
  } catch {
    return (require("undici") as { buildConnector: typeof buildConnector }).buildConnector;
  }
}
