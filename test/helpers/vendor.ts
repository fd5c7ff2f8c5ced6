// The vendor emulation: the real registry in token mode with its token service
// on another host name, both behind fault proxies, both reached by name over
// HTTPS through the named-hosts forward proxy. What differs between vendors
// (where the realm lives, what HEAD answers, 429s, immutable tags…) is set by
// the realm name and by rules on the two fault proxies.
import { join } from "node:path";
import { makeCertificates } from "./certs.js";
import type { RegistryTarget } from "./http.js";
import { startNamedHosts, type NamedHostsProxy } from "./named-hosts.js";
import { startProxy, type FaultProxy } from "./proxy.js";
import { startRegistry, type RegistryHandle } from "./registry.js";
import { makeTempDir } from "./tmp.js";
import type { TokenServerOptions } from "./token-server.js";
import { readFileSync } from "node:fs";

export interface VendorOptions {
  /** The registry's host name (default registry.example.test). */
  registryHost?: string;
  /** The token service's host name (default auth.example.test): a sibling, or an unrelated site like auth.other.test. */
  realmHost?: string;
  /** "http" puts the realm on plain HTTP. Default https. */
  realmScheme?: "http" | "https";
  token?: TokenServerOptions;
  deleteEnabled?: boolean;
}

export interface VendorEmulation {
  registryHost: string;
  realmHost: string;
  realm: string;
  registry: RegistryHandle;
  /** Fault proxy in front of the registry (what registry.example.test answers). */
  front: FaultProxy;
  /** Fault proxy in front of the token service (what the realm host answers). */
  tokenFront: FaultProxy;
  hosts: NamedHostsProxy;
  caFile: string;
  caPem: string;
  username: string;
  password: string;
  /** HTTPS_PROXY and friends for a dray child process. */
  env: Record<string, string>;
  /** The reference client's view (through the forward proxy, by name, with the account). */
  target: RegistryTarget;
  /** `registryHost/path`. */
  ref(path: string): string;
}

export async function startVendor(opts: VendorOptions = {}): Promise<VendorEmulation> {
  const registryHost = opts.registryHost ?? "registry.example.test";
  const realmHost = opts.realmHost ?? "auth.example.test";
  const realm = `${opts.realmScheme ?? "https"}://${realmHost}/token`;
  const dir = makeTempDir("dray-vendor-");
  const certs = makeCertificates(join(dir, "certs"), [registryHost, realmHost]);
  const registry = await startRegistry({
    mode: "token",
    realm,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.deleteEnabled ? { deleteEnabled: true } : {}),
  });
  const front = await startProxy(registry);
  const tokenFront = await startProxy({ url: registry.tokenServer!.url });
  const hosts = await startNamedHosts({
    names: { [registryHost]: front.port, [realmHost]: tokenFront.port },
    certPem: readFileSync(certs.serverCertFile, "utf8"),
    keyPem: readFileSync(certs.serverKeyFile, "utf8"),
    ...(opts.realmScheme === "http" ? { plain: [realmHost] } : {}),
  });
  const username = registry.username!;
  const password = registry.password!;
  return {
    registryHost,
    realmHost,
    realm,
    registry,
    front,
    tokenFront,
    hosts,
    caFile: certs.caFile,
    caPem: certs.caPem,
    username,
    password,
    env: hosts.env,
    target: { url: `https://${registryHost}`, username, password, caPem: certs.caPem, proxyUrl: hosts.url },
    ref: (path) => `${registryHost}/${path}`,
  };
}
