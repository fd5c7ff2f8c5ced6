// Credentials: never printed (also with --debug, in error messages and in
// progress output), never sent across a redirect to another host, and never
// sent to a token realm on another host unless the user's credential files
// hold the same credential for that host. "Host" follows the realm policy
// (src/auth/realm-policy.ts): the realm's host name must be the registry's own
// or of its domain family; on another port of the registry's own host only
// over verified HTTPS, since on a shared host any local user may listen on a
// plain-HTTP port (issue 26 item 6).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildIndex, pushImage, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir, onCleanup } from "../helpers/tmp.js";
import { addSecret, assertNoSecretsPrinted, caseIt, credsOf, lastLine, layoutState, recordedRuns, run, startResults } from "./support.js";
import { assertHolds } from "./verify.js";

startResults(import.meta.url);

interface Relay {
  url: string;
  seen: IncomingHttpHeaders[];
}

/** A token relay on another loopback host (127.0.0.2): records what it received and forwards to the real token server. */
async function startRelay(upstream: string): Promise<Relay> {
  const up = new URL(upstream);
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    const { host: _h, ...headers } = req.headers;
    const fwd = request({ hostname: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    fwd.on("error", () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
  onCleanup(
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => server.close(),
  );
  return { url: `http://127.0.0.2:${(server.address() as AddressInfo).port}`, seen };
}

let dir: string;
let img: BuiltIndex;
let basic: RegistryHandle;
let token: RegistryHandle;
let pBasic: FaultProxy;
let pToken: FaultProxy;
let relay: Relay;
/** The token registry seen through a proxy whose challenges name the relay on 127.0.0.2 as realm. */
let pForeignRealm: FaultProxy;
/** An isolated HOME with no docker or containers credentials, so only what a test passes counts. */
let env: NodeJS.ProcessEnv;

function authFile(name: string, entries: Record<string, { username: string; password: string }>): string {
  const file = join(dir, name);
  const auths: Record<string, { auth: string }> = {};
  for (const [host, c] of Object.entries(entries)) auths[host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString("base64") };
  writeFileSync(file, JSON.stringify({ auths }), { mode: 0o600 });
  return file;
}

function out(name: string): string {
  return `oci:${join(dir, name)}:v1`;
}

describe("credentials are never printed and never sent where they do not belong", () => {
  before(async () => {
    requireTool("skopeo");
    dir = makeTempDir("dray-rel-creds-");
    env = {
      HOME: join(dir, "home"),
      DOCKER_CONFIG: join(dir, "home", ".docker"),
      XDG_RUNTIME_DIR: join(dir, "run"),
      XDG_CONFIG_HOME: join(dir, "home", ".config"),
      REGISTRY_AUTH_FILE: undefined,
    };
    [basic, token] = await Promise.all([startRegistry({ mode: "htpasswd" }), startRegistry({ mode: "token" })]);
    credsOf(basic);
    credsOf(token);
    [pBasic, pToken, pForeignRealm] = await Promise.all([startProxy(basic), startProxy(token), startProxy(token)]);
    img = await buildIndex({ seed: "rel-creds", platforms: ["linux/amd64", "linux/arm64/v8"] });
    await pushImage(basic, "src/img", "v1", img);
    await pushImage(token, "src/img", "v1", img);
    relay = await startRelay(token.tokenServer!.url);
    pForeignRealm.addRule({
      action: {
        kind: "replaceHeader",
        name: "WWW-Authenticate",
        value: `Bearer realm="${relay.url}/token",service="${token.tokenServer!.service}"`,
      },
    });
  });

  caseIt(
    "credential",
    "--debug copy with --creds (Basic): request lines, no secret",
    "dray --debug copy --creds USER:PASS from an htpasswd registry",
    async () => {
      const r = await run(["--debug", "copy", "--creds", credsOf(basic), `docker://${basic.host}/src/img:v1`, out("debug-basic")], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/v2\/src\/img\/manifests\/v1 -> 200/, "--debug shows requests");
      return `exit 0; ${r.stderr.split("\n").filter((l) => / -> \d{3}/.test(l)).length} request lines on stderr, none with the password or Basic value`;
    },
  );

  caseIt(
    "credential",
    "--debug copy with a bearer token registry: no token printed",
    "dray --debug copy --creds USER:PASS from a token-auth registry",
    async () => {
      const r = await run(
        ["--debug", "copy", ...token.trustRealm, "--creds", credsOf(token), `docker://${token.host}/src/img:v1`, out("debug-token")],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        token.tokenServer!.log.some((e) => e.username === token.username),
        "the token server saw the account",
      );
      return `exit 0; ${token.tokenServer!.log.length} token requests; no JWT or password in the output`;
    },
  );

  caseIt(
    "credential",
    "--debug copy registry to registry with both sides authenticated",
    "dray --debug copy --src-creds A --dest-creds B, htpasswd to token registry",
    async () => {
      const r = await run(
        [
          "--debug",
          "copy",
          "--progress",
          "plain",
          "--src-creds",
          credsOf(basic),
          "--dest-creds",
          credsOf(token),
          ...token.trustRealm,
          `docker://${basic.host}/src/img:v1`,
          `docker://${token.host}/dst/both:v1`,
        ],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      return `exit 0; ${await assertHolds(`docker://${token.host}/dst/both:v1`, img, credsOf(token))}`;
    },
  );

  caseIt(
    "credential",
    "wrong password: error line without the password",
    "dray --debug copy --creds USER:WRONG (htpasswd) and the same without --debug",
    async () => {
      const wrong = `wrong-${basic.password!}`;
      addSecret(wrong);
      const a = await run(["--debug", "copy", "--creds", `dray:${wrong}`, `docker://${basic.host}/src/img:v1`, out("wrong1")], { env });
      const b = await run(["copy", "--creds", `dray:${wrong}`, `docker://${basic.host}/src/img:v1`, out("wrong2")], { env });
      assert.equal(a.code, 4, a.stderr);
      assert.equal(b.code, 4, b.stderr);
      assert.match(b.stderr, /^dray: [^\n]*\n$/);
      return `exit 4 both times: "${lastLine(b.stderr)}"`;
    },
  );

  caseIt("credential", "wrong password for a token registry", "dray --debug copy --creds USER:WRONG (token)", async () => {
    const wrong = `wrong-${token.password!}`;
    addSecret(wrong);
    const r = await run(
      ["--debug", "copy", ...token.trustRealm, "--creds", `dray:${wrong}`, `docker://${token.host}/src/img:v1`, out("wrong3")],
      { env },
    );
    assert.equal(r.code, 4, r.stderr);
    return `exit 4: "${lastLine(r.stderr)}"`;
  });

  caseIt("credential", "credentials from --authfile, --debug", "dray --debug copy --authfile auth.json (htpasswd)", async () => {
    const file = authFile("auth-basic.json", { [basic.host]: { username: basic.username!, password: basic.password! } });
    const r = await run(["--debug", "copy", "--authfile", file, `docker://${basic.host}/src/img:v1`, out("authfile")], { env });
    assert.equal(r.code, 0, r.stderr);
    return "exit 0; no secret printed";
  });

  caseIt(
    "credential",
    "a password written into the location is not echoed",
    "dray copy docker://dray:PASS@HOST/src/img:v1 … (also without docker://, and as destination)",
    async () => {
      const forms = [
        `docker://dray:${basic.password!}@${basic.host}/src/img:v1`,
        `dray:${basic.password!}@${basic.host}/src/img:v1`,
        `dray:${basic.password!}@localhost:5000`,
      ];
      let r: Awaited<ReturnType<typeof run>> | undefined;
      for (const form of forms) {
        for (const debug of [[], ["--debug"]]) {
          r = await run([...debug, "copy", form, out("inurl")], { env });
          assert.equal(r.code, 2, r.stderr);
          assert.match(r.stderr, /credentials cannot be part of a location/);
        }
        r = await run(["copy", out("inurl"), form], { env });
        assert.equal(r.code, 2, r.stderr);
      }
      return `exit 2 for ${forms.length} spellings, as source and destination, with and without --debug: "${lastLine(r?.stderr ?? "")}"`;
    },
  );

  caseIt(
    "credential",
    "progress output (plain and json) carries no secret",
    "dray copy --progress plain / --progress json --creds USER:PASS",
    async () => {
      const a = await run(["copy", "--progress", "plain", "--creds", credsOf(basic), `docker://${basic.host}/src/img:v1`, out("plain")], {
        env,
      });
      const b = await run(
        ["copy", "--progress", "json", "--format", "json", "--creds", credsOf(basic), `docker://${basic.host}/src/img:v1`, out("json")],
        { env },
      );
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.ok(b.stderr.split("\n").filter((l) => l.startsWith("{")).length > 3, "json progress events");
      return "exit 0 twice; progress lines and the JSON summary hold no secret";
    },
  );

  caseIt(
    "credential",
    "redirect of blob GETs to another host: Basic credentials not forwarded",
    "307 from the htpasswd registry's blob GETs to http://127.0.0.1:OTHER",
    async () => {
      pBasic.clearRules();
      pBasic.redirectTarget.requests.length = 0;
      pBasic.addRule({ method: "GET", path: "/blobs/sha256:", action: { kind: "redirect", status: 307 } });
      const r = await run(["--debug", "copy", "--creds", credsOf(basic), `docker://${pBasic.host}/src/img:v1`, out("redirect-basic")], {
        env,
      });
      pBasic.clearRules();
      assert.equal(r.code, 0, r.stderr);
      const got = pBasic.redirectTarget.requests;
      assert.ok(got.length >= 4, `blobs came from the other host (${got.length})`);
      assert.deepEqual(
        got.filter((g) => g.headers.authorization !== undefined),
        [],
        "no Authorization crossed the redirect",
      );
      return `exit 0; ${got.length} redirected GETs, none with Authorization`;
    },
  );

  caseIt(
    "credential",
    "redirect of blob GETs to another host: bearer token not forwarded",
    "307 from the token registry's blob GETs to http://127.0.0.1:OTHER",
    async () => {
      pToken.clearRules();
      pToken.redirectTarget.requests.length = 0;
      pToken.addRule({ method: "GET", path: "/blobs/sha256:", action: { kind: "redirect", status: 302 } });
      const r = await run(
        ["--debug", "copy", ...token.trustRealm, "--creds", credsOf(token), `docker://${pToken.host}/src/img:v1`, out("redirect-token")],
        {
          env,
        },
      );
      pToken.clearRules();
      assert.equal(r.code, 0, r.stderr);
      const got = pToken.redirectTarget.requests;
      assert.ok(got.length >= 4);
      assert.deepEqual(
        got.filter((g) => g.headers.authorization !== undefined),
        [],
        "no Authorization crossed the redirect",
      );
      return `exit 0; ${got.length} redirected GETs, none with Authorization`;
    },
  );

  caseIt(
    "credential",
    "token realm on another host: credential withheld, user told",
    "--creds for 127.0.0.1:PORT; its challenges name realm http://127.0.0.2:R/token",
    async () => {
      relay.seen.length = 0;
      const r = await run(["copy", "--creds", credsOf(token), `docker://${pForeignRealm.host}/src/img:v1`, out("foreign-realm")], { env });
      assert.ok(relay.seen.length > 0, "the realm was asked for a token");
      assert.deepEqual(
        relay.seen.filter((h) => h.authorization !== undefined),
        [],
        "no credential went to the other host",
      );
      assert.match(r.stderr, /realm http:\/\/127\.0\.0\.2:\d+ of 127\.0\.0\.1:\d+ is on an unrelated site/);
      assert.match(r.stderr, /withheld from realm 127\.0\.0\.2:\d+; trust it with --trust-realm 127\.0\.0\.2:\d+\n$/);
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual((await layoutState(join(dir, "foreign-realm"))).refs, {});
      return `exit 4; ${relay.seen.length} anonymous token requests to 127.0.0.2, notice: "${r.stderr
        .split("\n")
        .find((l) => l.includes("unrelated site"))
        ?.slice(0, 120)}"`;
    },
  );

  caseIt(
    "credential",
    "token realm on another host holding the same credential: sent",
    "auth.json with the same USER:PASS for 127.0.0.1:PORT and for 127.0.0.2:R",
    async () => {
      relay.seen.length = 0;
      const acct = { username: token.username!, password: token.password! };
      const file = authFile("auth-both.json", { [pForeignRealm.host]: acct, [new URL(relay.url).host]: acct });
      const r = await run(["copy", "--authfile", file, `docker://${pForeignRealm.host}/src/img:v1`, out("foreign-realm-ok")], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        relay.seen.some((h) => h.authorization?.startsWith("Basic ")),
        "the credential went to the realm that owns it",
      );
      return `exit 0; the realm's host got the credential stored for it (${relay.seen.length} token requests)`;
    },
  );

  caseIt(
    "credential",
    "token realm on another host with a different credential stored there: withheld",
    "auth.json with USER:PASS for the registry and another password for 127.0.0.2:R",
    async () => {
      relay.seen.length = 0;
      const other = `other-${token.password!}`;
      addSecret(other);
      const file = authFile("auth-differ.json", {
        [pForeignRealm.host]: { username: token.username!, password: token.password! },
        [new URL(relay.url).host]: { username: token.username!, password: other },
      });
      const r = await run(["copy", "--authfile", file, `docker://${pForeignRealm.host}/src/img:v1`, out("foreign-realm-differ")], { env });
      assert.deepEqual(
        relay.seen.filter((h) => h.authorization !== undefined),
        [],
        "neither credential went to the other host",
      );
      assert.equal(r.code, 4, r.stderr);
      return `exit 4; ${relay.seen.length} anonymous token requests`;
    },
  );

  caseIt(
    "credential",
    "token realm on the same host, another port, plain HTTP: withheld, user told",
    "--creds for 127.0.0.1:PORT; realm http://127.0.0.1:TOKENPORT/token (another user could listen on that port)",
    async () => {
      const before = token.tokenServer!.log.length;
      const r = await run(["copy", "--creds", credsOf(token), `docker://${token.host}/src/img:v1`, out("same-host")], { env });
      const asked = token.tokenServer!.log.slice(before);
      assert.deepEqual(
        asked.filter((e) => e.username !== undefined),
        [],
        "the credential went to the other port",
      );
      assert.match(r.stderr, /another port of the same host without verified HTTPS.*--trust-realm 127\.0\.0\.1:\d+\)/);
      assert.equal(r.code, 4, r.stderr);
      return `exit 4; ${asked.length} anonymous token requests, notice: "${r.stderr
        .split("\n")
        .find((l) => l.includes("another port"))
        ?.slice(0, 150)}"`;
    },
  );

  caseIt(
    "credential",
    "token realm on the same host, another port, trusted with --trust-realm HOST:PORT: sent",
    "--creds and --trust-realm 127.0.0.1:TOKENPORT for 127.0.0.1:PORT",
    async () => {
      const before = token.tokenServer!.log.length;
      const realmHost = new URL(token.tokenServer!.url).host;
      const r = await run(
        ["copy", "--creds", credsOf(token), "--trust-realm", realmHost, `docker://${token.host}/src/img:v1`, out("same-host-trusted")],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(token.tokenServer!.log.slice(before).some((e) => e.username === token.username));
      return "exit 0; the token server on the trusted port got the credential";
    },
  );

  caseIt(
    "credential",
    "a registry that echoes the credential in its error text",
    "GET /v2/ asks for Basic; every request with Authorization is answered 500 with errors[].message 'backend said: <the Authorization header> (<decoded USER:PASS>)' and the decoded pair in code and detail; then the same with a bearer token from DRAY_REGISTRY_TOKEN",
    async () => {
      const password = "echoed-Pa55word-9137";
      const bearer = "echoed.bearer-token.4471";
      const creds = join(dir, "echo-creds");
      writeFileSync(creds, `alice:${password}`, { mode: 0o600 });
      addSecret(password);
      addSecret(Buffer.from(`alice:${password}`).toString("base64"));
      addSecret(bearer);
      const server = createServer((req, res) => {
        const auth = req.headers.authorization;
        if (!auth) {
          res.writeHead(401, { "WWW-Authenticate": 'Basic realm="echo"', "Content-Type": "application/json" });
          res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
          return;
        }
        const said = auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString() : auth;
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: `E ${said}`, message: `backend said: ${auth} (${said})`, detail: said }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      onCleanup(
        () => new Promise<void>((resolve) => server.close(() => resolve())),
        () => server.close(),
      );
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const basicRun = await run(["inspect", "--retries", "0", "--creds-file", creds, `docker://${host}/app:v1`], { env });
      assert.equal(basicRun.code, 1, basicRun.stderr);
      for (const secret of [password, Buffer.from(`alice:${password}`).toString("base64")])
        assert.ok(!basicRun.stderr.includes(secret), basicRun.stderr);
      assert.match(basicRun.stderr, /backend said: Basic \*\*\* \(alice:\*\*\*\)/);
      const debugRun = await run(["--debug", "ls", "--retries", "0", "--creds-file", creds, `docker://${host}/app`], { env });
      assert.ok(!debugRun.stderr.includes(password), "the password was printed with --debug");
      const tokenRun = await run(["inspect", "--retries", "0", `docker://${host}/app:v1`], {
        env: { ...env, DRAY_REGISTRY_TOKEN: bearer },
      });
      assert.equal(tokenRun.code, 1, tokenRun.stderr);
      assert.ok(!tokenRun.stderr.includes(bearer), tokenRun.stderr);
      return `exit 1: ${JSON.stringify(lastLine(basicRun.stderr))}; the bearer token likewise shown as ***`;
    },
  );

  it("no password, Basic value or token appears in any output of any run of this file", () => {
    const n = assertNoSecretsPrinted();
    assert.ok(n >= 15, `${n} runs checked`);
    // The check is not vacuous: the runs did print plenty.
    assert.ok(recordedRuns().reduce((a, r) => a + r.stderr.length, 0) > 2000);
  });
});
