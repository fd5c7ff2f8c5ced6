import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  deleteKeychainCredential,
  keychainHost,
  keychainService,
  readKeychainCredential,
  storeKeychainCredential,
} from "../../src/auth/keychain.js";
import { removeCredential, storeCredential } from "../../src/auth/login.js";
import { existsSync } from "node:fs";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startRegistry } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "../cli/run.js";
import { startKeyringSession, type KeyringSession } from "./keychain-session.js";
import { isolatedEnv } from "./login-env.js";

/** The repository of a tagged location: `dray ls` takes no tag (issue 19). */
const repoOf = (loc: string): string => loc.replace(/:[^:/]+$/, "");

describe("keychain host names", () => {
  it("files Docker Hub aliases and URL forms under one name", () => {
    assert.equal(keychainHost("https://index.docker.io/v1/"), "docker.io");
    assert.equal(keychainHost("registry-1.docker.io"), "docker.io");
    assert.equal(keychainHost("Registry.Example.com:5000"), "registry.example.com:5000");
    assert.equal(keychainService("127.0.0.1:5000"), "dray:127.0.0.1:5000");
  });
});

describe("OS keychain through @github/keytar and a real Secret Service (gnome-keyring under dbus-run-session)", () => {
  let session: KeyringSession;
  before(async () => {
    session = await startKeyringSession();
    // libsecret reads the bus address when keytar first talks to it, which happens after this.
    process.env.DBUS_SESSION_BUS_ADDRESS = session.env.DBUS_SESSION_BUS_ADDRESS;
  });
  after(async () => {
    await session.stop();
  });

  it("stores, reads back, replaces and deletes a secret; secret-tool sees the same item", async () => {
    const host = "registry.test:5000";
    assert.equal(await readKeychainCredential(host), undefined);
    await storeKeychainCredential(host, { username: "alice", password: "s3cret:with:colons" });
    assert.deepEqual(await readKeychainCredential(host), { username: "alice", password: "s3cret:with:colons" });
    assert.equal(session.secretTool(["lookup", "service", "dray:registry.test:5000", "account", "alice"]), "s3cret:with:colons");
    // A second login for the same host replaces the first account: one login per registry.
    await storeKeychainCredential(host, { username: "bob", password: "other" });
    assert.deepEqual(await readKeychainCredential(host), { username: "bob", password: "other" });
    assert.equal(session.secretTool(["lookup", "service", "dray:registry.test:5000", "account", "alice"]), null);
    assert.equal(await deleteKeychainCredential(host), 1);
    assert.equal(await readKeychainCredential(host), undefined);
    assert.equal(session.secretTool(["lookup", "service", "dray:registry.test:5000", "account", "bob"]), null);
  });

  it("login --keychain leaves only the marker in config.json (mode 0600, other keys kept); logout removes both", async () => {
    const dir = makeTempDir();
    const configPath = join(dir, "config.json");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(
      configPath,
      JSON.stringify({ auths: { "other.example": { auth: "dTpw" } }, credHelpers: { "gcr.io": "gcloud" }, psFormat: "table" }),
    );
    const password = "very-secret-password-123";
    const stored = await storeCredential("127.0.0.1:5999", { username: "carol", password }, { keychain: true, configPath });
    assert.equal(stored.keychain, true);
    const text = await readFile(configPath, "utf8");
    assert.ok(!text.includes(password), "config.json must not hold the password");
    assert.ok(!text.includes(Buffer.from(`carol:${password}`).toString("base64")), "nor its base64");
    const doc = JSON.parse(text) as Record<string, Record<string, unknown>>;
    assert.deepEqual(doc.auths!["127.0.0.1:5999"], { drayKeychain: true });
    assert.deepEqual(doc.auths!["other.example"], { auth: "dTpw" });
    assert.deepEqual(doc.credHelpers, { "gcr.io": "gcloud" });
    assert.equal(doc.psFormat, "table");
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    assert.equal(session.secretTool(["lookup", "service", "dray:127.0.0.1:5999", "account", "carol"]), password);

    const removed = await removeCredential("127.0.0.1:5999", { configPath });
    assert.deepEqual(removed.removedKeys, ["127.0.0.1:5999"]);
    assert.equal(removed.keychainRemoved, 1);
    assert.equal(session.secretTool(["lookup", "service", "dray:127.0.0.1:5999", "account", "carol"]), null);
    const afterLogout = JSON.parse(await readFile(configPath, "utf8")) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(afterLogout.auths!), ["other.example"]);
    assert.equal(afterLogout.psFormat, "table");
  });

  it("a plain login after a keychain login drops the keychain secret", async () => {
    const configPath = join(makeTempDir(), "config.json");
    await storeCredential("127.0.0.1:5998", { username: "dave", password: "first" }, { keychain: true, configPath });
    assert.equal(session.secretTool(["lookup", "service", "dray:127.0.0.1:5998", "account", "dave"]), "first");
    await storeCredential("127.0.0.1:5998", { username: "dave", password: "second" }, { configPath });
    assert.equal(session.secretTool(["lookup", "service", "dray:127.0.0.1:5998", "account", "dave"]), null);
    const doc = JSON.parse(await readFile(configPath, "utf8")) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(doc.auths["127.0.0.1:5998"]!.auth, "base64").toString(), "dave:second");
  });
});

describe("dray login --keychain end to end (htpasswd registry, gnome-keyring under dbus-run-session)", () => {
  it("checks, stores the secret in the keychain and only a marker in config.json; ls reads it back; logout removes both", async () => {
    const session = await startKeyringSession();
    const reg = await startRegistry({ mode: "htpasswd" });
    const image = await buildImage({ seed: "keychain" });
    await pushImage({ url: reg.url, username: reg.username!, password: reg.password! }, "kc/app", "v1", image);
    const { env: base, configPath } = isolatedEnv();
    const env = { ...base, DBUS_SESSION_BUS_ADDRESS: session.env.DBUS_SESSION_BUS_ADDRESS };
    const loc = `docker://${reg.host}/kc/app:v1`;

    const login = await drayOk(["login", "--keychain", reg.host, "-u", reg.username!, "--password-stdin"], { env, input: reg.password! });
    assert.match(login.stderr, /OS keychain/);
    const text = await readFile(configPath, "utf8");
    assert.deepEqual(JSON.parse(text), { auths: { [reg.host]: { drayKeychain: true } } });
    assert.ok(!text.includes(reg.password!));
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    assert.equal(session.secretTool(["lookup", "service", `dray:${reg.host}`, "account", reg.username!]), reg.password);

    // A later command finds the marker and asks the keychain.
    assert.equal((await drayOk(["ls", repoOf(loc)], { env })).stdout, "v1\n");

    await drayOk(["logout", reg.host], { env });
    assert.equal(session.secretTool(["lookup", "service", `dray:${reg.host}`, "account", reg.username!]), null);
    assert.deepEqual(JSON.parse(await readFile(configPath, "utf8")), { auths: {} });
    assert.equal((await dray(["ls", repoOf(loc)], { env })).code, 4);
    await session.stop();
  });

  it("with no Secret Service answering, --keychain fails with what to install (exit 1) and stores nothing", async () => {
    const reg = await startRegistry({ mode: "htpasswd" });
    const { env, configPath } = isolatedEnv(); // no DBUS_SESSION_BUS_ADDRESS, no DISPLAY
    const r = await dray(["login", "--keychain", reg.host, "-u", reg.username!, "--password-stdin"], { env, input: reg.password! });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^dray: .*keychain.*(libsecret-1-0|gnome-keyring)/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.ok(!existsSync(configPath), "nothing stored");
  });
});
