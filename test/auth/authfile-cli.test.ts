// A credentials file the user named (--authfile, $REGISTRY_AUTH_FILE) that is
// missing, a folder or unreadable is a usage error naming it (exit 2) before any
// request, as skopeo refuses it; it was skipped and the pull went out anonymously
// (issue 27, item 2). Against the real registry with htpasswd, behind a proxy
// that counts requests.
import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

const NOBODY = { uid: 65534, gid: 65534 };
const isRoot = process.getuid?.() === 0;

describe("--authfile and REGISTRY_AUTH_FILE that cannot be read", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const loc = (): string => `docker://${proxy.host}/app:v1`;

  before(async () => {
    reg = await startRegistry({ mode: "htpasswd" });
    proxy = await startProxy(reg);
    await pushImage(
      { url: reg.url, username: reg.username!, password: reg.password! },
      "app",
      "v1",
      await buildImage({ seed: "authfile" }),
    );
    dir = makeTempDir("dray-authfile-");
    await chmod(dir, 0o755);
    env = { HOME: dir, DOCKER_CONFIG: join(dir, "docker"), XDG_RUNTIME_DIR: join(dir, "run"), REGISTRY_AUTH_FILE: "" };
  });

  it("--authfile missing or a folder: exit 2 naming the file, no request sent", async () => {
    const folder = join(dir, "a-folder");
    await mkdir(folder);
    for (const [file, why] of [
      [join(dir, "missing.json"), "does not exist"],
      [folder, "is a directory, not a file"],
    ] as const) {
      const before = proxy.log.length;
      const r = await dray(["inspect", loc(), "--authfile", file], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `dray: --authfile ${file} ${why}\n`);
      assert.equal(proxy.log.length, before, "no request at all");
    }
  });

  it("REGISTRY_AUTH_FILE missing: exit 2 naming it, no request sent; a good one is used", async () => {
    const missing = join(dir, "env-missing.json");
    const before = proxy.log.length;
    const r = await dray(["copy", loc(), `oci:${join(dir, "out")}`], { env: { ...env, REGISTRY_AUTH_FILE: missing } });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `dray: REGISTRY_AUTH_FILE ${missing} does not exist\n`);
    assert.equal(proxy.log.length, before);
    const good = join(dir, "auth.json");
    const auth = Buffer.from(`${reg.username!}:${reg.password!}`).toString("base64");
    await writeFile(good, JSON.stringify({ auths: { [proxy.host]: { auth } } }));
    const ok = await dray(["digest", loc()], { env: { ...env, REGISTRY_AUTH_FILE: good } });
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("an unreadable --authfile: exit 2, permission denied", { skip: !isRoot && "needs root to run dray as another user" }, async () => {
    const file = join(dir, "secret.json");
    await writeFile(file, "{}");
    await chmod(file, 0o600);
    const r = await dray(["digest", loc(), "--authfile", file], { env, user: NOBODY });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `dray: --authfile ${file} cannot be read: permission denied\n`);
  });
});
