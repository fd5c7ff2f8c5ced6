import assert from "node:assert/strict";
import { lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findKey, parseAuthEntry, readAuthFile } from "../../src/auth/authfile.js";
import { authsKey, dockerConfigPath, parseRegistryHost, removeCredential, storeCredential } from "../../src/auth/login.js";
import { isDrayError } from "../../src/errors.js";
import { makeTempDir } from "../helpers/tmp.js";

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

describe("docker config.json writing for login/logout", () => {
  it("resolves $DOCKER_CONFIG, else ~/.docker", () => {
    assert.equal(dockerConfigPath({ DOCKER_CONFIG: "/x/y" }), "/x/y/config.json");
    assert.match(dockerConfigPath({}), /\/\.docker\/config\.json$/);
  });

  it("uses docker's keys: host[:port], and the legacy URL for Docker Hub", () => {
    assert.equal(authsKey("127.0.0.1:5000"), "127.0.0.1:5000");
    assert.equal(authsKey("docker.io"), "https://index.docker.io/v1/");
    assert.equal(parseRegistryHost("https://Registry.Example.com:443/"), "registry.example.com:443");
    assert.equal(parseRegistryHost("docker://index.docker.io"), "docker.io");
    assert.equal(parseRegistryHost("[::1]:5000"), "[::1]:5000");
    assert.throws(
      () => parseRegistryHost("bad host"),
      (e: unknown) => isDrayError(e, "E_REF_INVALID"),
    );
  });

  it("creates the folder and a 0600 file, and what it writes reads back through the credential reader", async () => {
    const configPath = join(makeTempDir(), "nested", "config.json");
    await storeCredential("127.0.0.1:5000", { username: "u", password: "p:a:ss" }, { configPath });
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    const file = await readAuthFile(configPath);
    assert.ok(file);
    const key = findKey(file.auths, "127.0.0.1:5000", "repo");
    assert.equal(key, "127.0.0.1:5000");
    assert.deepEqual(parseAuthEntry(file.auths.get(key!), configPath, key!), { kind: "basic", username: "u", password: "p:a:ss" });
  });

  it("keeps every other key, replaces all spellings of the same host, and leaves no temporary file", async () => {
    const dir = makeTempDir();
    const configPath = join(dir, "config.json");
    const before = {
      auths: {
        "https://127.0.0.1:5000/v1/": { auth: "b2xkOm9sZA==" },
        "quay.io": { auth: "cTpx" },
        "quay.io/org/repo": { auth: "cjpy" },
      },
      credHelpers: { "gcr.io": "gcloud" },
      proxies: { default: { httpProxy: "http://proxy:3128" } },
      experimental: "enabled",
    };
    await writeFile(configPath, JSON.stringify(before), { mode: 0o644 });
    await storeCredential("127.0.0.1:5000", { username: "new", password: "pw" }, { configPath });
    const doc = await readJson(configPath);
    assert.deepEqual(doc.auths, {
      "quay.io": { auth: "cTpx" },
      "quay.io/org/repo": { auth: "cjpy" },
      "127.0.0.1:5000": { auth: Buffer.from("new:pw").toString("base64") },
    });
    assert.deepEqual(doc.credHelpers, before.credHelpers);
    assert.deepEqual(doc.proxies, before.proxies);
    assert.equal(doc.experimental, "enabled");
    assert.equal((await stat(configPath)).mode & 0o777, 0o600, "the rewritten file is 0600 even if the old one was not");
    assert.deepEqual(await readdir(dir), ["config.json"]);
  });

  it("refuses to overwrite a config.json that is not valid JSON", async () => {
    const configPath = join(makeTempDir(), "config.json");
    await writeFile(configPath, "{ not json");
    await assert.rejects(storeCredential("h.example", { username: "u", password: "p" }, { configPath }), (e: unknown) =>
      isDrayError(e, "E_CREDENTIALS"),
    );
    assert.equal(await readFile(configPath, "utf8"), "{ not json");
  });

  it("writes through a symlinked config.json (dotfile managers) instead of replacing the link", async () => {
    const dir = makeTempDir();
    await mkdir(join(dir, "dotfiles"));
    const real = join(dir, "dotfiles", "docker-config.json");
    await writeFile(real, JSON.stringify({ auths: {} }));
    const link = join(dir, "config.json");
    await symlink(real, link);
    await storeCredential("h.example", { username: "u", password: "p" }, { configPath: link });
    assert.ok((await lstat(link)).isSymbolicLink());
    assert.equal(await readlink(link), real);
    assert.deepEqual((await readJson(real)).auths, { "h.example": { auth: Buffer.from("u:p").toString("base64") } });
  });

  it("says so when docker would ask a credential helper instead", async () => {
    const configPath = join(makeTempDir(), "config.json");
    await writeFile(configPath, JSON.stringify({ credsStore: "desktop" }));
    const notices: string[] = [];
    await storeCredential("h.example", { username: "u", password: "p" }, { configPath, notice: (m) => notices.push(m) });
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /docker-credential-desktop/);
  });

  it("logout removes every spelling of the host and nothing else; a second logout finds nothing", async () => {
    const configPath = join(makeTempDir(), "config.json");
    await writeFile(
      configPath,
      JSON.stringify({
        auths: { "https://index.docker.io/v1/": { auth: "YTpi" }, "docker.io": { auth: "YTpi" }, "quay.io": { auth: "cTpx" } },
        x: 1,
      }),
    );
    const first = await removeCredential("docker.io", { configPath });
    assert.deepEqual(first.removedKeys.sort(), ["docker.io", "https://index.docker.io/v1/"]);
    assert.deepEqual(await readJson(configPath), { auths: { "quay.io": { auth: "cTpx" } }, x: 1 });
    const second = await removeCredential("docker.io", { configPath });
    assert.deepEqual(second.removedKeys, []);
  });
});
