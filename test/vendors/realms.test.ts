// Where a credential may go, against emulations of vendors whose token
// service is on another host. Facts:
// - self-hosted GitLab: the registry (registry.example.com) names GitLab
//   itself (gitlab.example.com/jwt/auth) as its realm (docs.gitlab.com,
//   "GitLab container registry administration", auth.token.realm);
// - DigitalOcean: registry.digitalocean.com names
//   https://api.digitalocean.com/v2/registry/auth;
// - docker, skopeo and crane send the credential to the realm the registry
//   names whatever its host, so these registries work with them.
// The emulation: registry.example.test with realm auth.example.test (same
// registrable domain under a TLD the Public Suffix List lacks), and an
// unrelated site, auth.other.test.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";
import { startVendor, type VendorEmulation } from "../helpers/vendor.js";
import { dray } from "../cli/run.js";

async function layoutOf(seed: string): Promise<string> {
  const dir = join(makeTempDir("dray-vendor-src-"), "layout");
  await writeOciLayout(dir, await buildImage({ seed }), "v1");
  return dir;
}

/** `dray copy` of the layout's v1 into the emulated registry with --creds, plus `extra` flags. */
function copyWithCreds(v: VendorEmulation, layout: string, extra: string[] = []): ReturnType<typeof dray> {
  return dray(copyArgs(v, layout, extra), { env: v.env });
}

function copyArgs(v: VendorEmulation, layout: string, extra: string[] = []): string[] {
  return [
    "copy",
    `oci:${layout}:v1`,
    `docker://${v.ref("team/app:v1")}`,
    "--creds",
    `${v.username}:${v.password}`,
    "--ca-file",
    v.caFile,
    "-q",
    ...extra,
  ];
}

/** Token requests that carried the account's name (Basic auth reached the token service). */
function credentialedTokenRequests(v: VendorEmulation): number {
  return v.registry.tokenServer!.log.filter((r) => r.username !== undefined).length;
}

describe("self-hosted GitLab / DigitalOcean: token realm on a sibling host", () => {
  let v: VendorEmulation;
  let layout: string;
  before(async () => {
    v = await startVendor({ realmHost: "auth.example.test" });
    layout = await layoutOf("sibling");
  });
  after(() => v.hosts.stop());

  it("copy --creds sends the credential to the sibling realm and exits 0", async () => {
    const r = await copyWithCreds(v, layout);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /withheld|anonymous/);
    assert.ok(credentialedTokenRequests(v) > 0);
  });

  it("dray login succeeds and later runs use the stored credential", async () => {
    const home = makeTempDir("dray-vendor-home-");
    const env = {
      ...v.env,
      DOCKER_CONFIG: join(home, ".docker"),
      HOME: home,
      XDG_RUNTIME_DIR: home,
      XDG_CONFIG_HOME: join(home, ".config"),
    };
    const login = await dray(["login", v.registryHost, "-u", v.username, "--password-stdin", "--ca-file", v.caFile], {
      env,
      input: v.password,
    });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /Login Succeeded/);
    const digest = await dray(["digest", `docker://${v.ref("team/app:v1")}`, "--ca-file", v.caFile], { env });
    assert.equal(digest.code, 0, digest.stderr);
  });
});

describe("unrelated token realm (auth.other.test): withheld by default, sent with --trust-realm", () => {
  let v: VendorEmulation;
  let layout: string;
  before(async () => {
    v = await startVendor({ realmHost: "auth.other.test" });
    layout = await layoutOf("unrelated");
  });
  after(() => v.hosts.stop());

  it("copy --creds withholds the credential, asks anonymously, and says which flag would send it (exit 4)", async () => {
    const before = credentialedTokenRequests(v);
    const r = await copyWithCreds(v, layout);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /trust it with --trust-realm auth\.other\.test/);
    assert.match(r.stderr, /credential for registry\.example\.test withheld from realm auth\.other\.test/);
    assert.doesNotMatch(r.stderr, /no credentials found/);
    assert.equal(credentialedTokenRequests(v), before, "the credential never reached auth.other.test");
  });

  it("copy --creds --trust-realm auth.other.test sends it and exits 0", async () => {
    const r = await copyWithCreds(v, layout, ["--trust-realm", "auth.other.test"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(credentialedTokenRequests(v) > 0);
  });

  it("login without --trust-realm fails naming the flag; with it, the trust is recorded beside config.json and later runs need no flag", async () => {
    const home = makeTempDir("dray-vendor-home-");
    const dockerConfig = join(home, ".docker");
    const env = { ...v.env, DOCKER_CONFIG: dockerConfig, HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, ".config") };
    const refused = await dray(["login", v.registryHost, "-u", v.username, "--password-stdin", "--ca-file", v.caFile], {
      env,
      input: v.password,
    });
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /--trust-realm auth\.other\.test/);
    const login = await dray(
      ["login", "--trust-realm", "auth.other.test", v.registryHost, "-u", v.username, "--password-stdin", "--ca-file", v.caFile],
      {
        env,
        input: v.password,
      },
    );
    assert.equal(login.code, 0, login.stderr);
    const recorded = JSON.parse(readFileSync(join(dockerConfig, "dray-trusted-realms.json"), "utf8")) as {
      trustedRealms: Record<string, string[]>;
    };
    assert.deepEqual(recorded.trustedRealms[v.registryHost], ["auth.other.test"]);
    const config = readFileSync(join(dockerConfig, "config.json"), "utf8");
    assert.doesNotMatch(config, /other\.test/, "config.json stays as docker writes it");
    const digest = await dray(["digest", `docker://${v.ref("team/app:v1")}`, "--ca-file", v.caFile], { env });
    assert.equal(digest.code, 0, digest.stderr);
    const logout = await dray(["logout", v.registryHost], { env });
    assert.equal(logout.code, 0, logout.stderr);
    const after = JSON.parse(readFileSync(join(dockerConfig, "dray-trusted-realms.json"), "utf8")) as {
      trustedRealms: Record<string, string[]>;
    };
    assert.equal(after.trustedRealms[v.registryHost], undefined, "logout forgets the trust with the login");
    assert.match(logout.stderr, /; forgot the recorded trust in \S+ \(dray login --trust-realm\)\n$/, "and says so (issue 28 item 12)");
  });
});

describe("plain-HTTP token realm off loopback (a sibling host over http://)", () => {
  let v: VendorEmulation;
  let layout: string;
  before(async () => {
    v = await startVendor({ realmHost: "auth.example.test", realmScheme: "http" });
    layout = await layoutOf("plainrealm");
  });
  after(() => v.hosts.stop());

  it("gets no credential without --insecure (exit 4, says so), and gets it with --insecure", async () => {
    const args = copyArgs(v, layout);
    const refused = await dray(args, { env: v.env });
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /withheld from plain-HTTP realm http:\/\/auth\.example\.test; allow it with --insecure/);
    assert.equal(credentialedTokenRequests(v), 0);
    const allowed = await dray([...args, "--insecure"], { env: v.env });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(credentialedTokenRequests(v) > 0);
  });
});
