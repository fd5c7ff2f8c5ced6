/**
 * How the registry transport loads undici: on first use, not at import, so a
 * run that never talks to a registry never loads it. A CommonJS module so
 * that the same literal `require` serves the library (dist/src, undici from
 * node_modules) and the bundled CLI, whose bundler swaps this file for a
 * slimmer loader (src/cli/startup/undici.cts).
 */
import type { Agent, Dispatcher, EnvHttpProxyAgent, buildConnector } from "undici";

export type AgentClass = new (options: Agent.Options) => Dispatcher;
type ProxyAgentClass = new (options: EnvHttpProxyAgent.Options) => Dispatcher;

export function loadAgent(): AgentClass {
  return (require("undici") as { Agent: AgentClass }).Agent;
}

export function loadProxyAgent(): ProxyAgentClass {
  return (require("undici") as { EnvHttpProxyAgent: ProxyAgentClass }).EnvHttpProxyAgent;
}

/** undici's TLS connector factory, for a connection that presents a client certificate (tls.ts). */
export function loadBuildConnector(): typeof buildConnector {
  return (require("undici") as { buildConnector: typeof buildConnector }).buildConnector;
}
