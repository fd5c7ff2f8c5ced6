// One Ctrl-C or SIGTERM ends the run, whatever the server does (issue 26,
// item 4). Each case holds one kind of request open with the fault proxy in
// front of the real registry (headers never sent, or a body trickled one
// byte at a time so no body timeout fires) or with a small hostile token
// realm of the test's own that never answers; then it sends one signal and
// checks that dray exits within a few seconds with the signal's documented
// code (130 for SIGINT, 143 for SIGTERM) and says it was interrupted.
// No DRAY_HTTP_TIMEOUT: the default timeouts (minutes) must not be what ends it.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { buildImage, pushImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy, type ProxyRule } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { assertNoSecretsPrinted, caseIt, lastLine, run, start, startResults, waitFor } from "./support.js";

startResults(import.meta.url);

/** A signal ends the run within this long (the request it interrupts would hold it for minutes). */
const WITHIN_MS = 5_000;
/** How long a held request would hold: far beyond WITHIN_MS and the default timeouts' reach in a test. */
const HOLD_MS = 120_000;
const EXIT: Record<"SIGINT" | "SIGTERM", number> = { SIGINT: 130, SIGTERM: 143 };

let reg: RegistryHandle;
let proxy: FaultProxy;
let img: BuiltImage;
/** An OCI layout holding `big` (a layer above the 1 MiB monolithic bound: streamed PUT) under tag 1. */
let layout: string;
/** A token realm that accepts requests and never answers them. */
let realm: { url: string; requests: number; close: () => Promise<void> };

async function silentRealm(): Promise<typeof realm> {
  const held: ServerResponse[] = [];
  const state = { url: "", requests: 0, close: async (): Promise<void> => undefined };
  const server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    state.requests++;
    held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

interface HeldCase {
  name: string;
  /** What is held, for the results table. */
  sent: string;
  args: (host: string) => string[];
  rule: ProxyRule;
  signal: "SIGINT" | "SIGTERM";
  /** True once the request is held (default: the rule acted). */
  held?: (rule: { hits: number }) => boolean;
  /** A line stderr must hold besides the last. */
  line?: RegExp;
  /** The destination repository whose upload sessions must all be cancelled once dray has exited. */
  uploadsOf?: string;
}

/**
 * Upload sessions the registry still holds open in `repo`: distribution keeps one folder per session under
 * the repository's _uploads, with a `startedat` file as long as the session lives (its hash state may stay
 * behind once cancelled, as test/transport/registry/abort.test.ts notes).
 */
function openUploads(repo: string): string[] {
  const dir = join(reg.storageDir, "docker/registry/v2/repositories", repo, "_uploads");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((id) => existsSync(join(dir, id, "startedat")));
}

const CASES: HeldCase[] = [
  {
    name: "inspect: the manifest body trickled a byte every 2 s",
    sent: "GET manifest answered 200, body one byte every 2 s",
    args: (h) => ["inspect", "--raw", `docker://${h}/lib/app:1`],
    rule: { method: "GET", path: "/v2/lib/app/manifests/1", action: { kind: "trickle", everyMs: 2_000 } },
    signal: "SIGINT",
  },
  {
    name: "inspect: a 404's error body trickled",
    sent: "GET manifest answered 404, its JSON error body one byte every 2 s",
    args: (h) => ["inspect", `docker://${h}/lib/app:missing`],
    rule: { method: "GET", path: "/v2/lib/app/manifests/missing", action: { kind: "trickle", everyMs: 2_000, status: 404 } },
    signal: "SIGTERM",
  },
  {
    name: "copy: the destination's currentDigest HEAD never answered",
    sent: "HEAD of the destination tag: no answer",
    args: (h) => ["copy", `docker://${h}/lib/app:1`, `docker://${h}/dst/current:1`],
    rule: { method: "HEAD", path: "/v2/dst/current/manifests/1", action: { kind: "stall", ms: HOLD_MS } },
    signal: "SIGINT",
  },
  {
    name: "copy --all-tags: the destination's tagDigest HEAD never answered",
    sent: "HEAD of each destination tag (--all-tags): no answer",
    args: (h) => ["copy", "--all-tags", `docker://${h}/lib/app`, `docker://${h}/dst/alltags`],
    rule: { method: "HEAD", path: "/v2/dst/alltags/manifests/", action: { kind: "stall", ms: HOLD_MS } },
    signal: "SIGTERM",
  },
  {
    name: "copy: hasBlob's HEAD never answered",
    sent: "HEAD of a blob at the destination: no answer",
    args: (h) => ["copy", `docker://${h}/lib/app:1`, `docker://${h}/dst/hasblob:1`],
    rule: { method: "HEAD", path: "/v2/dst/hasblob/blobs/", action: { kind: "stall", ms: HOLD_MS } },
    signal: "SIGINT",
  },
  {
    name: "copy: mountBlob's POST never answered",
    sent: "POST …/blobs/uploads/?mount=: no answer",
    args: (h) => ["copy", `docker://${h}/lib/app:1`, `docker://${h}/dst/mount:1`],
    rule: { method: "POST", path: /\/v2\/dst\/mount\/blobs\/uploads\/\?mount=/, action: { kind: "stall", ms: HOLD_MS } },
    signal: "SIGTERM",
  },
  {
    name: "copy layout → registry: the blob PUTs never answered",
    sent: "PUT of each blob's upload (small ones whole, a 3 MiB one streamed): no answer; its session must be cancelled",
    args: (h) => ["copy", `oci:${layout}:1`, `docker://${h}/dst/uploads:1`],
    rule: { method: "PUT", path: /\/v2\/dst\/uploads\/blobs\/uploads\//, action: { kind: "stall", ms: HOLD_MS } },
    // Every blob's PUT is held (three of them: config, two layers), so each has a session open when the signal comes.
    held: (r) => r.hits >= 3,
    uploadsOf: "dst/uploads",
    signal: "SIGINT",
  },
  {
    name: "copy layout → registry: a signal while the POSTs' answers are on the way",
    sent: "POST of each blob's upload: the registry opens the session, its answer held 1.5 s; the sessions must still be cancelled",
    args: (h) => ["copy", `oci:${layout}:1`, `docker://${h}/dst/opening:1`],
    rule: { method: "POST", path: /\/v2\/dst\/opening\/blobs\/uploads\/$/, action: { kind: "holdAnswer", ms: 1_500 } },
    // The three POSTs (config, two layers) have reached the registry; their answers are held.
    held: (r) => r.hits >= 3,
    uploadsOf: "dst/opening",
    signal: "SIGINT",
  },
  {
    name: "copy layout → registry: the blob PUTs and the cancelling DELETEs never answered",
    sent: "PUT of each blob's upload and DELETE of its session: no answer (the cancel's own deadline ends the wait)",
    args: (h) => ["copy", `oci:${layout}:1`, `docker://${h}/dst/nodelete:1`],
    rule: { method: ["PUT", "DELETE"], path: /\/v2\/dst\/nodelete\/blobs\/uploads\//, action: { kind: "stall", ms: HOLD_MS } },
    held: (r) => r.hits >= 3,
    signal: "SIGTERM",
  },
  {
    name: "sync: the destination's tag HEAD never answered",
    sent: "HEAD of each destination tag (sync): no answer",
    args: (h) => ["sync", `${h}/lib/app`, `${h}/dst/sync`],
    rule: { method: "HEAD", path: "/v2/dst/sync/manifests/", action: { kind: "stall", ms: HOLD_MS } },
    signal: "SIGTERM",
  },
  {
    name: "sync: the source's tag list never answered",
    sent: "GET tags/list of the source repository (sync): no answer",
    args: (h) => ["sync", `${h}/lib/app`, `${h}/dst/synclist`],
    rule: { method: "GET", path: "/v2/lib/app/tags/list", action: { kind: "stall", ms: HOLD_MS } },
    signal: "SIGINT",
  },
  {
    name: "copy --referrers: the source's referrers API never answered",
    sent: "GET /v2/<name>/referrers/<digest> of the source (copy --referrers): no answer",
    args: (h) => ["copy", "--referrers", `docker://${h}/lib/app:1`, `docker://${h}/dst/copyrefs:1`],
    rule: { method: "GET", path: "/v2/lib/app/referrers/", action: { kind: "stall", ms: HOLD_MS } },
    line: /^referrer list of sha256:[0-9a-f]{64}: interrupted$/m,
    signal: "SIGINT",
  },
  {
    name: "sync: the source's referrers API never answered",
    sent: "GET /v2/<name>/referrers/<digest> of the source (sync): no answer",
    args: (h) => ["sync", `${h}/lib/app`, `${h}/dst/syncrefs`],
    rule: { method: "GET", path: "/v2/lib/app/referrers/", action: { kind: "stall", ms: HOLD_MS } },
    line: /^interrupted +referrer list of sha256:[0-9a-f]{12} in docker:\/\/\S+\/lib\/app -> /m,
    signal: "SIGTERM",
  },
  {
    name: "ls: the tag page trickled",
    sent: "GET tags/list answered 200, body one byte every 2 s",
    args: (h) => ["ls", `docker://${h}/lib/app`],
    rule: { method: "GET", path: "/v2/lib/app/tags/list", action: { kind: "trickle", everyMs: 2_000 } },
    signal: "SIGINT",
  },
  {
    name: "inspect: the token realm never answers",
    sent: "401 with a Bearer challenge whose realm accepts the token request and never answers",
    args: (h) => ["inspect", "--raw", `docker://${h}/lib/app:1`],
    // The realm URL is known once the silent realm listens: filled in before the case runs.
    rule: { path: "/v2/", authorized: false, action: { kind: "status", status: 401 } },
    held: () => realm.requests > 0,
    signal: "SIGTERM",
  },
];

describe("one signal ends the run whatever the server holds open", { concurrency: 1 }, () => {
  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    proxy = await startProxy({ url: reg.url });
    realm = await silentRealm();
    img = await buildImage({ seed: "signals" });
    await pushImage(proxy.target, "lib/app", "1", img);
    layout = makeTempDir("dray-signals-layout-");
    await writeOciLayout(layout, await buildImage({ seed: "signals-layout", layerSizes: [3 * 1024 * 1024, 4096] }), "1");
  });
  after(async () => {
    await realm.close();
  });

  for (const c of CASES) {
    caseIt("interruption", c.name, c.sent, async () => {
      const action =
        c.held && c.rule.action.kind === "status"
          ? { ...c.rule.action, headers: { "www-authenticate": `Bearer realm="${realm.url}",service="hostile"` } }
          : c.rule.action;
      const rule = proxy.addRule({ ...c.rule, action });
      try {
        const child = start(c.args(proxy.host));
        const held = c.held ?? ((r: { hits: number }): boolean => r.hits > 0);
        await waitFor(() => held(rule), 30_000, `the held request of "${c.name}"`);
        await new Promise((r) => setTimeout(r, 300)); // well inside the request (a few bytes trickled)
        const sentAt = Date.now();
        child.child.kill(c.signal);
        // Still running past the bound: stopped hard, and the case fails saying so (not after the helper's 90 s).
        const killer = setTimeout(() => child.child.kill("SIGKILL"), WITHIN_MS * 2);
        const r = await child.wait();
        clearTimeout(killer);
        const tookMs = Date.now() - sentAt;
        assert.notEqual(r.signal, "SIGKILL", `still running ${WITHIN_MS * 2} ms after one ${c.signal}: ${lastLine(r.stderr)}`);
        assert.equal(r.code, EXIT[c.signal], `exit ${r.code} (${r.signal ?? "no signal"}): ${r.stderr}`);
        assert.ok(tookMs < WITHIN_MS, `ended ${tookMs} ms after ${c.signal}`);
        assert.match(lastLine(r.stderr), /^dray: interrupted/);
        // An interrupted run prints no result (copy --referrers printed the copied image's digest).
        assert.equal(r.stdout, "", "stdout of an interrupted run");
        // What the signal stopped is not a failure of its own (sync listed each image FAILED: "This operation was aborted").
        assert.doesNotMatch(r.stderr, /^FAILED|operation was aborted/m);
        // Every referrer line names what it was about (a listing the signal stopped printed "referrer ?").
        assert.doesNotMatch(r.stderr, /referrer (\?|undefined)[ :]/);
        if (c.line) assert.match(r.stderr, c.line);
        if (c.uploadsOf) assert.deepEqual(openUploads(c.uploadsOf), [], "upload sessions left open in the registry after the signal");
        return `exit ${r.code} ${tookMs} ms after one ${c.signal}: ${lastLine(r.stderr)}`;
      } finally {
        rule.remove();
      }
    });
  }

  caseIt(
    "fault",
    "a trickled manifest meets the small-read deadline (no signal needed)",
    "GET manifest answered 200, body one byte every 0.5 s (never silent for DRAY_HTTP_TIMEOUT=2)",
    async () => {
      const rule = proxy.addRule({ method: "GET", path: "/v2/lib/app/manifests/1", action: { kind: "trickle", everyMs: 500 } });
      try {
        const startedAt = Date.now();
        const r = await run(["inspect", "--raw", `docker://${proxy.host}/lib/app:1`], { env: { DRAY_HTTP_TIMEOUT: "2" } });
        const tookMs = Date.now() - startedAt;
        assert.equal(r.code, 1, r.stderr);
        assert.match(lastLine(r.stderr), /manifest 1 from .* arrived too slowly: \d+ bytes in [\d.]+ s/);
        assert.ok(tookMs < 15_000, `took ${tookMs} ms`);
        return `exit ${r.code} after ${tookMs} ms: ${lastLine(r.stderr)}`;
      } finally {
        rule.remove();
      }
    },
  );

  it("no secret in any output", () => {
    assert.ok(assertNoSecretsPrinted() >= CASES.length);
  });
});
