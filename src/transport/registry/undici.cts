/**
 * How dray loads undici. A CommonJS module on purpose: literal `require`
 * calls are what the CLI bundler (scripts/bundle.mjs) can follow, so the
 * same code serves the library (dist/src, undici from node_modules) and the
 * bundled CLI (undici inside dist/dray.cjs).
 */
import type { Agent, Dispatcher, EnvHttpProxyAgent } from "undici";

export type AgentClass = new (options: Agent.Options) => Dispatcher;
type ProxyAgentClass = new (options: EnvHttpProxyAgent.Options) => Dispatcher;

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

/** Proxies are rare: the full undici (for EnvHttpProxyAgent) is loaded only then. */
export function loadProxyAgent(): ProxyAgentClass {
  return (require("undici") as { EnvHttpProxyAgent: ProxyAgentClass }).EnvHttpProxyAgent;
}
