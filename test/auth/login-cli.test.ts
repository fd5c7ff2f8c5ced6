// `dray login` / `dray logout` end to end: the credential is checked against
// the real registry (htpasswd basic auth, and bearer tokens from a token
// server), stored in docker config.json, and read back by later commands.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryMode } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "../cli/run.js";
import { isolatedEnv } from "./login-env.js";

/** The repository of a tagged location: `dray ls` takes no tag (issue 19). */
const repoOf = (loc: string): string => loc.replace(/:[^:/]+$/, "");

for (const mode of ["htpasswd", "token"] as RegistryMode[]) {
  describe(`dray login against the ${mode} registry`, () => {
    it("refuses a wrong password (exit 4, nothing written), stores a right one (0600), later commands use it, logout removes it", async () => {
      const reg = await startRegistry({ mode });
      const image = await buildImage({ seed: `login-${mode}` });
      await pushImage({ url: reg.url, username: reg.username!, password: reg.password! }, "private/app", "v1", image);
      const { env, configPath } = isolatedEnv();
      const loc = `docker://${reg.host}/private/app:v1`;

      if (mode === "htpasswd") {
        const anonymous = await dray(["ls", repoOf(loc)], { env });
        assert.equal(anonymous.code, 4, anonymous.stderr);
      }

      const wrong = await dray(["login", ...reg.trustRealm, reg.host, "-u", reg.username!, "--password-stdin"], {
        env,
        input: "not-the-password\n",
      });
      assert.equal(wrong.code, 4, wrong.stderr);
      assert.match(wrong.stderr, /^dray: /m);
      // Named as what was typed (the user), never as --creds and never with the password.
      assert.ok(wrong.stderr.includes(`refused the credentials from dray login (user "${reg.username}")`), wrong.stderr);
      assert.ok(!wrong.stderr.includes("--creds") && !wrong.stderr.includes("not-the-password"), wrong.stderr);
      assert.ok(!existsSync(configPath), "a refused login writes nothing");

      const ok = await drayOk(["login", ...reg.trustRealm, reg.host, "-u", reg.username!, "--password-stdin"], {
        env,
        input: `${reg.password}\n`,
      });
      assert.equal(ok.stdout, "");
      assert.match(ok.stderr, /Login Succeeded/);
      assert.equal((await stat(configPath)).mode & 0o777, 0o600);
      const doc = JSON.parse(await readFile(configPath, "utf8")) as { auths: Record<string, { auth: string }> };
      assert.equal(Buffer.from(doc.auths[reg.host]!.auth, "base64").toString(), `${reg.username}:${reg.password}`);
      assert.ok(!ok.stderr.includes(reg.password!), "the password is never printed");

      // Read back by later commands: ls, inspect and a copy, with no --creds.
      assert.equal((await drayOk(["ls", repoOf(loc)], { env })).stdout, "v1\n");
      assert.equal((await drayOk(["digest", loc], { env })).stdout.trim(), image.manifest.digest.toString());
      const out = join(makeTempDir(), "copied");
      const copy = await dray(["copy", loc, `oci:${out}:v1`], { env });
      assert.equal(copy.code, 0, copy.stderr);
      assert.equal((await drayOk(["digest", `oci:${out}:v1`])).stdout.trim(), image.manifest.digest.toString());

      // -f json / a template, as on every command that prints something (issue 19); the password never in it.
      const asJson = await drayOk(["login", ...reg.trustRealm, reg.host, "-u", reg.username!, "--password-stdin", "-f", "json"], {
        env,
        input: `${reg.password}\n`,
      });
      assert.deepEqual(JSON.parse(asJson.stdout), { Registry: reg.host, Stored: configPath, Keychain: false });
      const templated = await drayOk(
        ["login", ...reg.trustRealm, reg.host, "-u", reg.username!, "--password-stdin", "-f", "{{.Registry}}"],
        {
          env,
          input: `${reg.password}\n`,
        },
      );
      assert.equal(templated.stdout, `${reg.host}\n`);
      assert.ok(!asJson.stdout.includes(reg.password!) && !templated.stdout.includes(reg.password!));

      const logout = await drayOk(["logout", reg.host], { env });
      assert.match(logout.stderr, /Removed login credentials/);
      const after = JSON.parse(await readFile(configPath, "utf8")) as { auths: Record<string, unknown> };
      assert.deepEqual(after.auths, {});
      if (mode === "htpasswd") assert.equal((await dray(["ls", repoOf(loc)], { env })).code, 4);
      const again = await drayOk(["logout", reg.host], { env });
      assert.match(again.stderr, /Not logged in/);
    });
  });
}

describe("dray login without a terminal", () => {
  it("never prompts: without --password-stdin it is a usage error (exit 2) naming the flag", async () => {
    const { env, configPath } = isolatedEnv();
    const r = await dray(["login", "127.0.0.1:1", "-u", "someone"], { env, timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--password-stdin/);
    assert.ok(!existsSync(configPath));
    const noUser = await dray(["login", "127.0.0.1:1", "--password-stdin"], { env, input: "pw\n" });
    assert.equal(noUser.code, 2);
    assert.match(noUser.stderr, /--username/);
    const badHost = await dray(["login", "not a host", "-u", "x", "--password-stdin"], { env, input: "pw\n" });
    assert.equal(badHost.code, 2);
  });
});

describe("dray login where the config folder cannot be written", () => {
  const isRoot = process.getuid?.() === 0;
  it(
    "one line in words naming the folder and what to do, no raw EACCES, exit 1",
    { skip: !isRoot && "needs root to run dray as another user" },
    async () => {
      const reg = await startRegistry({ mode: "htpasswd" });
      try {
        const { env } = isolatedEnv();
        const home = makeTempDir("dray-login-readonly-home-");
        await chmod(home, 0o555); // nobody may enter it but not create .docker in it
        const r = await dray(["login", reg.host, "-u", reg.username!, "--password-stdin"], {
          env: { ...env, HOME: home, DOCKER_CONFIG: undefined },
          input: `${reg.password!}\n`,
          user: { uid: 65534, gid: 65534 },
        });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(
          r.stderr,
          `dray: cannot create ${join(home, ".docker")}: permission denied; set DOCKER_CONFIG to a folder of your own\n`,
        );
        assert.ok(!existsSync(join(home, ".docker")));
      } finally {
        await reg.stop();
      }
    },
  );
});
