/**
 * The floor under `dray inspect` (issue 31): a process that does only what any
 * client built on undici must do for it, and nothing of dray. It loads undici
 * the way dray's bundle does (the dispatcher and the request API, not the
 * index), sets the V8 flags and the compile cache dray's launcher sets, GETs the manifest and, unless
 * --raw, the config, and prints them. The bench runs it beside `node -e ''` so
 * that a report shows how much of dray's start-up is undici's own.
 *
 * Usage: node dist/bench/undici-floor.cjs [--raw] http://HOST:PORT REPO TAG
 */
import { enableNodeCompileCache, setV8Flags } from "../src/cli/startup/launch.cjs";

interface Body {
  text(): Promise<string>;
}
interface Requester {
  request(options: {
    origin: string;
    path: string;
    method: "GET";
    headers: Record<string, string>;
  }): Promise<{ statusCode: number; body: Body }>;
  close(): Promise<void>;
}
type AgentClass = new (options: object) => Requester;

const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

function loadAgent(): AgentClass {
  const dispatcher = require("undici/lib/dispatcher/dispatcher.js") as { prototype: object };
  const api = require("undici/lib/api/index.js") as object;
  if (!("request" in dispatcher.prototype)) Object.assign(dispatcher.prototype, api);
  return require("undici/lib/dispatcher/agent.js") as AgentClass;
}

async function get(agent: Requester, origin: string, path: string, accept: string): Promise<string> {
  const res = await agent.request({ origin, path, method: "GET", headers: { accept } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode}`);
  return text;
}

async function main(argv: string[]): Promise<void> {
  const raw = argv[0] === "--raw";
  const [origin, repo, tag] = raw ? argv.slice(1) : argv;
  if (!origin || !repo || !tag) throw new Error("usage: undici-floor.cjs [--raw] http://HOST:PORT REPO TAG");
  setV8Flags();
  enableNodeCompileCache();
  const Agent = loadAgent();
  const agent = new Agent({});
  const manifest = await get(agent, origin, `/v2/${repo}/manifests/${tag}`, MANIFEST_ACCEPT);
  process.stdout.write(`${manifest}\n`);
  if (!raw) {
    const { config } = JSON.parse(manifest) as { config: { digest: string } };
    process.stdout.write(`${await get(agent, origin, `/v2/${repo}/blobs/${config.digest}`, "*/*")}\n`);
  }
  await agent.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`undici-floor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
