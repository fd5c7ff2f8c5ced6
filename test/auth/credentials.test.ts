// Credential sources in the order the README gives, from real files in temporary
// folders and a real `docker-credential-test` helper script put on PATH; then
// the same sources used by the registry transport against a real htpasswd
// registry.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findKey, normaliseKey, parseAuthEntry } from "../../src/auth/authfile.js";
import { resolveCredentials, type CredentialLookup } from "../../src/auth/credentials.js";
import { exitCodeFor, isDrayError } from "../../src/errors.js";
import { parseLocation, type RegistryLocation } from "../../src/ref/location.js";
import { closeRegistryConnections, openRegistrySource } from "../../src/transport/registry/index.js";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

after(() => closeRegistryConnections());

const b64 = (s: string): string => Buffer.from(s).toString("base64");

interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  dockerConfig(doc: unknown): void;
  containersAuth(doc: unknown): string;
  runtimeAuth(doc: unknown): void;
  file(name: string, doc: unknown): string;
  /** Writes `docker-credential-NAME` into the sandbox's bin folder (on env.PATH). */
  helper(name: string, script: string): void;
}

/** A HOME with docker and containers folders and a bin folder first on PATH, all empty. */
function sandbox(): Sandbox {
  const dir = makeTempDir("dray-auth-");
  const bin = join(dir, "bin");
  for (const d of [bin, join(dir, ".docker"), join(dir, ".config", "containers"), join(dir, "run", "containers")])
    mkdirSync(d, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    HOME: dir,
    DOCKER_CONFIG: join(dir, ".docker"),
    XDG_CONFIG_HOME: join(dir, ".config"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  };
  const write = (path: string, doc: unknown): string => {
    writeFileSync(path, typeof doc === "string" ? doc : JSON.stringify(doc));
    return path;
  };
  return {
    dir,
    env,
    dockerConfig: (doc) => void write(join(dir, ".docker", "config.json"), doc),
    containersAuth: (doc) => write(join(dir, ".config", "containers", "auth.json"), doc),
    runtimeAuth: (doc) => void write(join(dir, "run", "containers", "auth.json"), doc),
    file: (name, doc) => write(join(dir, name), doc),
    helper: (name, script) => {
      const path = join(bin, `docker-credential-${name}`);
      writeFileSync(path, script);
      chmodSync(path, 0o755);
    },
  };
}

/** A helper that logs what it was asked and answers from a table, as docker-credential-* helpers do. */
function tableHelper(logFile: string, table: Record<string, { Username: string; Secret: string }>): string {
  const cases = Object.entries(table)
    .map(([server, c]) => `  ${JSON.stringify(server)}) printf '%s' '${JSON.stringify({ ServerURL: server, ...c })}' ;;`)
    .join("\n");
  return `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
printf '%s\\n' "$server" >> ${JSON.stringify(logFile)}
case "$server" in
${cases}
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
}

function lookup(sb: Sandbox, domain: string, extra: Partial<CredentialLookup> = {}): CredentialLookup {
  return { domain, env: sb.env, ...extra };
}

describe("credential sources (files and helpers)", () => {
  it("explicit --creds win over everything", async () => {
    const sb = sandbox();
    sb.dockerConfig({ auths: { "reg.example": { auth: b64("file:pw") } } });
    const c = await resolveCredentials(lookup(sb, "reg.example", { creds: { username: "flag", password: "pw" } }));
    assert.deepEqual(c, { username: "flag", password: "pw", source: "--creds" });
  });

  it("tries --authfile, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, then docker config.json", async () => {
    const sb = sandbox();
    sb.dockerConfig({ auths: { "reg.example": { auth: b64("docker:1") } } });
    assert.equal((await resolveCredentials(lookup(sb, "reg.example")))?.username, "docker");
    sb.containersAuth({ auths: { "reg.example": { auth: b64("home:2") } } });
    assert.equal((await resolveCredentials(lookup(sb, "reg.example")))?.username, "home");
    sb.runtimeAuth({ auths: { "reg.example": { auth: b64("runtime:3") } } });
    assert.equal((await resolveCredentials(lookup(sb, "reg.example")))?.username, "runtime");
    sb.env.REGISTRY_AUTH_FILE = sb.file("env-auth.json", { auths: { "reg.example": { auth: b64("envfile:4") } } });
    assert.equal((await resolveCredentials(lookup(sb, "reg.example")))?.username, "envfile");
    const flagFile = sb.file("flag-auth.json", { auths: { "reg.example": { auth: b64("flagfile:5") } } });
    const c = await resolveCredentials(lookup(sb, "reg.example", { authFile: flagFile }));
    assert.deepEqual(c, { username: "flagfile", password: "5", source: flagFile });
    // A file that does not mention the host passes the question on.
    assert.equal(await resolveCredentials(lookup(sb, "other.example")), undefined);
  });

  it("containers auth.json: a namespace-scoped key beats the host key, most specific first", async () => {
    const sb = sandbox();
    sb.containersAuth({
      auths: {
        "quay.io": { auth: b64("host:1") },
        "quay.io/org": { auth: b64("org:2") },
        "quay.io/org/repo": { auth: b64("repo:3") },
      },
    });
    assert.equal((await resolveCredentials(lookup(sb, "quay.io", { repoPath: "org/repo" })))?.username, "repo");
    assert.equal((await resolveCredentials(lookup(sb, "quay.io", { repoPath: "org/other" })))?.username, "org");
    assert.equal((await resolveCredentials(lookup(sb, "quay.io", { repoPath: "elsewhere/x" })))?.username, "host");
    assert.equal((await resolveCredentials(lookup(sb, "quay.io", { repoPath: "organisation/x" })))?.username, "host");
  });

  it("docker config.json: keys with https:// and /v1/, Docker Hub's legacy key, username+password fields, identitytoken", async () => {
    const sb = sandbox();
    sb.dockerConfig({
      auths: {
        "https://index.docker.io/v1/": { auth: b64("hub:pw") },
        "https://reg.example:5000": { username: "plain", password: "fields" },
        "tok.example": { auth: b64("ignored:x"), identitytoken: "refresh-123" },
      },
    });
    assert.equal((await resolveCredentials(lookup(sb, "docker.io")))?.username, "hub");
    assert.deepEqual(await resolveCredentials(lookup(sb, "reg.example:5000")), {
      username: "plain",
      password: "fields",
      source: join(sb.dir, ".docker", "config.json"),
    });
    const t = await resolveCredentials(lookup(sb, "tok.example"));
    assert.equal(t?.identityToken, "refresh-123");
    assert.equal(await resolveCredentials(lookup(sb, "reg.example")), undefined, "a port is part of the host");
  });

  it("credHelpers: asks docker-credential-NAME with the server URL (Docker Hub's legacy key for docker.io)", async () => {
    const sb = sandbox();
    const log = join(sb.dir, "helper.log");
    sb.helper(
      "test",
      tableHelper(log, {
        "reg.example": { Username: "helper-user", Secret: "s3cret" },
        "https://index.docker.io/v1/": { Username: "<token>", Secret: "idtok" },
      }),
    );
    sb.dockerConfig({
      auths: { "reg.example": { auth: b64("inline:ignored") } },
      credHelpers: { "reg.example": "test", "docker.io": "test", "none.example": "test" },
    });
    assert.deepEqual(await resolveCredentials(lookup(sb, "reg.example")), {
      username: "helper-user",
      password: "s3cret",
      source: "docker-credential-test",
    });
    const hub = await resolveCredentials(lookup(sb, "docker.io"));
    assert.equal(hub?.identityToken, "idtok");
    // "not found" from the helper is anonymous, not a fall-back to another source.
    assert.equal(await resolveCredentials(lookup(sb, "none.example")), undefined);
    assert.deepEqual(readFileSync(log, "utf8").trim().split("\n"), ["reg.example", "https://index.docker.io/v1/", "none.example"]);
  });

  it("credsStore applies to hosts without an inline secret", async () => {
    const sb = sandbox();
    const log = join(sb.dir, "store.log");
    sb.helper("store", tableHelper(log, { "reg.example": { Username: "stored", Secret: "pw" } }));
    sb.dockerConfig({ auths: { "reg.example": {}, "inline.example": { auth: b64("inline:pw") } }, credsStore: "store" });
    assert.equal((await resolveCredentials(lookup(sb, "reg.example")))?.username, "stored");
    assert.equal((await resolveCredentials(lookup(sb, "inline.example")))?.username, "inline");
  });

  it("a failing, missing, slow or garbled helper is an error (E_CREDENTIALS, exit 1), never a silent fall-back", async () => {
    const sb = sandbox();
    sb.helper("broken", "#!/bin/sh\necho 'cannot talk to the keyring' >&2\nexit 3\n");
    sb.helper("slow", "#!/bin/sh\nsleep 5\n");
    sb.helper("garbled", "#!/bin/sh\necho 'not json'\n");
    sb.dockerConfig({
      auths: { "a.example": { auth: b64("inline:pw") } },
      credHelpers: { "a.example": "broken", "b.example": "slow", "c.example": "garbled", "d.example": "absent" },
    });
    const fails = (pattern: RegExp) => (err: unknown) =>
      isDrayError(err, "E_CREDENTIALS") && exitCodeFor(err) === 1 && pattern.test(err.message);
    await assert.rejects(
      resolveCredentials(lookup(sb, "a.example")),
      fails(/docker-credential-broken failed: exit status 3: cannot talk to the keyring/),
    );
    await assert.rejects(resolveCredentials(lookup(sb, "b.example", { helperTimeoutMs: 300 })), fails(/no answer within/));
    await assert.rejects(resolveCredentials(lookup(sb, "c.example")), fails(/not JSON/));
    await assert.rejects(resolveCredentials(lookup(sb, "d.example")), fails(/not found on PATH/));
  });

  it("malformed files and entries are errors naming the file", async () => {
    const sb = sandbox();
    sb.dockerConfig("{ not json");
    await assert.rejects(
      resolveCredentials(lookup(sb, "x.example")),
      (err: unknown) => isDrayError(err, "E_CREDENTIALS") && err.message.includes("config.json"),
    );
    sb.dockerConfig({ auths: { "x.example": { auth: "!!!" } } });
    await assert.rejects(
      resolveCredentials(lookup(sb, "x.example")),
      (err: unknown) => isDrayError(err, "E_CREDENTIALS") && /base64/.test(err.message),
    );
  });

  it('an entry marked {"drayKeychain": true} asks the OS keychain (here: unavailable, a typed E_KEYCHAIN error)', async () => {
    const sb = sandbox();
    sb.dockerConfig({ auths: { "kc.example": { drayKeychain: true } } });
    // No Secret Service runs in the test environment: the lookup must say so, not fall back to anonymous.
    await assert.rejects(resolveCredentials(lookup(sb, "kc.example")), (err: unknown) => isDrayError(err, "E_KEYCHAIN"));
  });

  it("key helpers: normalisation and matching", () => {
    assert.deepEqual(normaliseKey("https://index.docker.io/v1/"), { host: "docker.io", path: "" });
    assert.deepEqual(normaliseKey("http://Reg.Example:5000/v2/"), { host: "reg.example:5000", path: "" });
    assert.deepEqual(normaliseKey("quay.io/org/repo/"), { host: "quay.io", path: "org/repo" });
    const m = new Map<string, number>([["registry-1.docker.io", 1]]);
    assert.equal(findKey(m, "docker.io", undefined), "registry-1.docker.io");
    assert.deepEqual(parseAuthEntry({ auth: b64("u:p:with:colons") }, "f", "k"), {
      kind: "basic",
      username: "u",
      password: "p:with:colons",
    });
  });
});

describe("credential sources used by the registry transport (htpasswd registry)", () => {
  let reg: RegistryHandle;
  let image: BuiltImage;
  let sb: Sandbox;
  let where: RegistryLocation;

  before(async () => {
    reg = await startRegistry({ mode: "htpasswd" });
    image = await buildImage({ seed: "creds" });
    await pushImage(reg, "creds/img", "v1", image);
    sb = sandbox();
    // The transport reads process.env: this test file runs in its own process.
    Object.assign(process.env, sb.env);
    delete process.env.REGISTRY_AUTH_FILE;
    where = parseLocation(`docker://${reg.host}/creds/img:v1`) as RegistryLocation;
  });

  const pull = async (): Promise<Buffer> => (await (await openRegistrySource(where, {})).getManifest()).bytes;
  const auth = (): string => b64(`${reg.username}:${reg.password}`);

  it("docker config.json auths", async () => {
    sb.dockerConfig({ auths: { [reg.host]: { auth: auth() } } });
    assert.deepEqual(await pull(), image.manifest.bytes);
  });

  it("a credHelpers entry pointing at docker-credential-test on PATH", async () => {
    const log = join(sb.dir, "it-helper.log");
    sb.helper("test", tableHelper(log, { [reg.host]: { Username: reg.username!, Secret: reg.password! } }));
    sb.dockerConfig({ auths: { [reg.host]: { auth: b64("wrong:wrong") } }, credHelpers: { [reg.host]: "test" } });
    assert.deepEqual(await pull(), image.manifest.bytes);
    assert.equal(readFileSync(log, "utf8").trim(), reg.host);
  });

  it("a containers auth.json (before docker's config, which here holds a wrong password)", async () => {
    sb.dockerConfig({ auths: { [reg.host]: { auth: b64("wrong:wrong") } } });
    sb.containersAuth({ auths: { [reg.host]: { auth: auth() } } });
    assert.deepEqual(await pull(), image.manifest.bytes);
  });

  // containers-auth.json(5): "registry.example.com/team/app" keys, the most specific match wins (issue 19, bug 8).
  it("containers auth.json: a key scoped to the repository or its namespace is used; the most specific wins", async () => {
    sb.dockerConfig({ auths: {} });
    sb.containersAuth({ auths: { [`${reg.host}/creds`]: { auth: auth() } } });
    assert.deepEqual(await pull(), image.manifest.bytes, "a namespace key alone serves creds/img");
    sb.containersAuth({
      auths: {
        [reg.host]: { auth: b64("wrong:wrong") },
        [`${reg.host}/creds/img`]: { auth: auth() },
        [`${reg.host}/other`]: { auth: b64("x:y") },
      },
    });
    assert.deepEqual(await pull(), image.manifest.bytes, "the repository's own key beats the host key");
    sb.containersAuth({ auths: { [reg.host]: { auth: auth() }, [`${reg.host}/creds/img`]: { auth: b64("wrong:wrong") } } });
    await assert.rejects(pull(), (err: unknown) => isDrayError(err) && exitCodeFor(err) === 4, "the wrong scoped key is the one used");
    sb.containersAuth({ auths: {} });
  });

  it("docker config.json stays host-only: a path in its key is ignored, the host's own key wins", async () => {
    sb.dockerConfig({ auths: { [reg.host]: { auth: b64("wrong:wrong") }, [`${reg.host}/creds/img`]: { auth: auth() } } });
    await assert.rejects(pull(), (err: unknown) => isDrayError(err) && exitCodeFor(err) === 4);
  });

  it("--authfile first of all", async () => {
    sb.containersAuth({ auths: { [reg.host]: { auth: b64("wrong:wrong") } } });
    const file = sb.file("given.json", { auths: { [reg.host]: { auth: auth() } } });
    const src = await openRegistrySource(where, { authFile: file });
    assert.deepEqual((await src.getManifest()).bytes, image.manifest.bytes);
    await assert.rejects(pull(), (err: unknown) => isDrayError(err) && exitCodeFor(err) === 4);
  });
});
