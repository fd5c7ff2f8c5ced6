// Secrets off the command line (issue 30 item 3): --creds-file (a file, or
// standard input), DRAY_CREDS and the per-side variables, --registry-token
// and DRAY_REGISTRY_TOKEN, --no-creds; against the real registry in htpasswd
// and token modes. A running dray's /proc/PID/cmdline holds no secret.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { dray, drayOk } from "./run.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { homeEnv } from "../helpers/home.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { fifoWith, makeTempDir } from "../helpers/tmp.js";

const ENTRY = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));

describe("credentials from files, standard input and the environment", () => {
  let reg: RegistryHandle;
  let plain: RegistryHandle;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let digest: string;
  let image: string;

  before(async () => {
    reg = await startRegistry({ mode: "htpasswd" });
    plain = await startRegistry();
    const built = await buildImage({ seed: "creds-sources" });
    digest = (await pushImage(reg, "team/app", "v1", built)).toString();
    image = `docker://${reg.host}/team/app:v1`;
    dir = makeTempDir("dray-creds-");
    // An empty home: no stored credential anywhere, so only what the test gives is used.
    env = homeEnv(makeTempDir("dray-creds-home-"));
  });
  after(async () => {
    await reg?.stop();
    await plain?.stop();
  });

  it("is refused anonymously (the registry really asks)", async () => {
    const r = await dray(["digest", image], { env });
    assert.equal(r.code, 4, r.stderr);
  });

  it("reads USER:PASS from --creds-file", async () => {
    const file = join(dir, "creds");
    writeFileSync(file, `${reg.username}:${reg.password}\n`, { mode: 0o600 });
    const r = await drayOk(["digest", image, "--creds-file", file], { env });
    assert.equal(r.stdout.trim(), digest);
  });

  it("reads USER:PASS from standard input with --creds-file -", async () => {
    const r = await drayOk(["digest", image, "--creds-file", "-"], { env, input: `${reg.username}:${reg.password}\n` });
    assert.equal(r.stdout.trim(), digest);
  });

  it("reads --creds-file from a pipe (<(pass show …)) once, for both sides of a copy", async () => {
    const file = join(dir, "creds-for-fifo");
    writeFileSync(file, `${reg.username}:${reg.password}\n`, { mode: 0o600 });
    // Was: the source side read the pipe, the destination side found it empty ("must hold one line").
    const r = await dray(["copy", "-q", "--creds-file", fifoWith(file, dir, "creds.fifo"), image, `docker://${reg.host}/team/copy:v1`], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), digest);
  });

  it("refuses --creds-file - beside an archive on standard input (both would read it) before reading either", async () => {
    for (const args of [
      ["copy", "--creds-file", "-", "oci-archive:-", `docker://${reg.host}/team/stdin:v1`],
      ["copy", "--dest-creds-file=-", "docker-archive:-", `docker://${reg.host}/team/stdin:v1`],
      ["inspect", "oci-archive:-", "--creds-file", "-"],
    ]) {
      const r = await dray(args, { env, input: "not an archive\n" });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /both read standard input/, r.stderr);
      assert.doesNotMatch(r.stderr, /must hold one line/);
    }
  });

  it("reads DRAY_CREDS, and DRAY_SRC_CREDS for the source side of a copy only", async () => {
    let r = await drayOk(["digest", image], { env: { ...env, DRAY_CREDS: `${reg.username}:${reg.password}` } });
    assert.equal(r.stdout.trim(), digest);
    r = await drayOk(["copy", image, `docker://${plain.host}/mirror/app:v1`], {
      env: { ...env, DRAY_SRC_CREDS: `${reg.username}:${reg.password}` },
    });
    assert.equal(r.stdout.trim(), digest);
  });

  it("a flag wins over a variable, a side's own form over the both-sides one", async () => {
    const r = await dray(["digest", image, "--creds", "dray:wrong"], { env: { ...env, DRAY_CREDS: `${reg.username}:${reg.password}` } });
    assert.equal(r.code, 4, r.stderr);
    const ok = await drayOk(
      ["copy", image, `docker://${plain.host}/mirror/app:v2`, "--creds", "dray:wrong", "--src-creds-file", join(dir, "creds")],
      { env },
    );
    assert.equal(ok.stdout.trim(), digest);
  });

  it("--no-creds goes anonymous although DRAY_CREDS is set; a side's --src-no-creds beside --src-creds is a usage error", async () => {
    const withEnv = { ...env, DRAY_CREDS: `${reg.username}:${reg.password}` };
    let r = await dray(["digest", image, "--no-creds"], { env: withEnv });
    assert.equal(r.code, 4, r.stderr);
    // Not "no credentials found (dray login …)": one was there, and the user asked not to send it.
    assert.match(r.stderr, /refused anonymous access, which --no-creds asked for/);
    // commander's rule for an option and its --no- form: the last one given wins.
    r = await dray(["digest", image, "--creds", `${reg.username}:${reg.password}`, "--no-creds"], { env });
    assert.equal(r.code, 4, r.stderr);
    r = await dray(["copy", image, `docker://${plain.host}/mirror/x:v1`, "--src-no-creds", "--src-creds", "a:b"], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--src-creds and --src-no-creds both say what to authenticate with: give one/);
  });

  it("a missing, empty or multi-line --creds-file is exit 2 before any request, naming the file and never its content", async () => {
    let r = await dray(["digest", image, "--creds-file", join(dir, "missing")], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--creds-file .*missing does not exist/);
    const two = join(dir, "two-lines");
    writeFileSync(two, "secret-one\nsecret-two\n");
    r = await dray(["digest", image, "--creds-file", two], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /secret-/);
    r = await dray(["digest", image, "--creds-file", dir], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is a directory, not a file/);
  });

  it("no secret in the process's command line while it runs (/proc/PID/cmdline)", async () => {
    const child = spawn(
      process.execPath,
      [...(ENTRY.endsWith(".ts") ? ["--import", "tsx"] : []), ENTRY, "digest", image, "--creds-file", "-"],
      {
        env: { ...process.env, ...env, NO_COLOR: "1" },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    const out: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    // dray now waits for its standard input: the process is there to look at.
    await new Promise((r) => setTimeout(r, 500));
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0").join(" ");
    assert.match(cmdline, /--creds-file -/);
    assert.ok(!cmdline.includes(reg.password!), "the password is not in argv");
    child.stdin.end(`${reg.username}:${reg.password}\n`);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0);
    assert.equal(Buffer.concat(out).toString().trim(), digest);
  });
});

describe("a bearer token obtained elsewhere (--registry-token, DRAY_REGISTRY_TOKEN)", () => {
  let reg: RegistryHandle;
  let token: string;
  let digest: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    reg = await startRegistry({ mode: "token" });
    const built = await buildImage({ seed: "registry-token" });
    digest = (await pushImage(reg, "team/app", "v1", built)).toString();
    const server = reg.tokenServer!;
    const url = new URL(server.realm);
    url.searchParams.set("service", server.service);
    url.searchParams.set("scope", "repository:team/app:pull");
    const res = await fetch(url, { headers: { authorization: reg.basicAuth! } });
    token = ((await res.json()) as { token: string }).token;
    env = homeEnv(makeTempDir("dray-token-home-"));
  });
  after(() => reg?.stop());

  it("sends the token as is and never asks the token service", async () => {
    const before = reg.tokenServer!.requests;
    const r = await drayOk(["digest", `docker://${reg.host}/team/app:v1`], { env: { ...env, DRAY_REGISTRY_TOKEN: token } });
    assert.equal(r.stdout.trim(), digest);
    assert.equal(reg.tokenServer!.requests, before, "no request reached the token service");
  });

  it("a token in --creds-file (one word, no colon) is a registry token", async () => {
    const file = join(makeTempDir("dray-token-"), "token");
    writeFileSync(file, `${token}\n`);
    const r = await drayOk(["digest", `docker://${reg.host}/team/app:v1`, "--creds-file", file], { env });
    assert.equal(r.stdout.trim(), digest);
  });

  it("a token the registry refuses is exit 4", async () => {
    const r = await dray(["digest", `docker://${reg.host}/team/app:v1`, "--registry-token", "not-a-token"], { env });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /refused the registry token given/);
    assert.doesNotMatch(r.stderr, /no credentials found/);
  });
});
