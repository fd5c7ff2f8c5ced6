// The signature gate of `dray sync`, end to end on the real registry: three
// repositories (signed with the trusted key, signed with another key,
// unsigned). Only the first reaches the mirror, with its signature; skopeo
// checks the destination afterwards. Refusals are listed, the rest copied,
// and refusals alone make exit 6.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { cosignPayload, cosignSignature, opensslKey, opensslSign, pushAll } from "./artifacts.js";

interface SyncJson {
  Images: { Copied: number; Refused: number; Failed: number };
  Refused: Array<{ Source: string; Destination: string; Message: string }>;
  Failures: unknown[];
}

describe("dray sync: the signature gate", () => {
  let src: RegistryHandle;
  let dst: RegistryHandle;
  let dir: string;
  let trusted: ReturnType<typeof opensslKey>;
  const images: Record<string, BuiltImage> = {};

  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    dir = makeTempDir("dray-sync-gate-");
    trusted = opensslKey(dir, "trusted", "ec");
    const other = opensslKey(dir, "other", "ec");
    for (const [repo, key] of [
      ["team/good", trusted],
      ["team/otherkey", other],
      ["team/unsigned", undefined],
    ] as const) {
      const img = await buildImage({ seed: `sync-gate-${repo}` });
      images[repo] = img;
      await pushImage(src, repo, "1.0", img);
      if (key) {
        const payload = cosignPayload(img.manifest.digest.toString(), `${src.host}/${repo}`);
        await pushAll(src, repo, [
          cosignSignature(img.manifest.digest, [
            { payload, annotations: { "dev.cosignproject.cosign/signature": opensslSign(key.key, payload, dir) } },
          ]),
        ]);
      }
    }
  });
  after(async () => Promise.all([src.stop(), dst.stop()]));

  it("--dry-run --verify-key: shows what would be refused, copies nothing", async () => {
    const r = await dray(["sync", "--dry-run", `docker://${src.host}`, `docker://${dst.host}/dry`, "--verify-key", trusted.pub]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^refused {5}docker://${src.host}/team/otherkey:1\\.0 -> docker://${dst.host}/dry/team/otherkey:1\\.0: `, "m"),
    );
    assert.match(r.stdout, /^copy docker:\/\/.*team\/good:1\.0 /m);
    assert.match(r.stdout, /^refuse docker:\/\/.*team\/unsigned:1\.0 /m);
    const cat = await skopeo(["list-tags", `docker://${dst.host}/dry/team/good`], { tlsVerify: false });
    assert.notEqual(cat.code, 0);
  });

  it("a sync file's verify: block: the good one is copied with its signature, the others refused and absent (exit 6)", async () => {
    const file = join(dir, "sync.yaml");
    await writeFile(
      file,
      [
        `verify:`,
        `  key: ${trusted.pub}`,
        `sync:`,
        `  - source: ${src.host}`,
        `    repositories: [team/good, team/otherkey, team/unsigned]`,
        `    destination: ${dst.host}/mirror`,
        "",
      ].join("\n"),
    );
    const r = await dray(["sync", file, "--format", "json"]);
    assert.equal(r.code, 6, r.stderr);
    const s = JSON.parse(r.stdout) as SyncJson;
    assert.equal(s.Images.Copied, 1);
    assert.equal(s.Images.Refused, 2);
    assert.equal(s.Failures.length, 0);
    assert.deepEqual(s.Refused.map((x) => x.Source).sort(), [
      `docker://${src.host}/team/otherkey:1.0`,
      `docker://${src.host}/team/unsigned:1.0`,
    ]);
    assert.match(s.Refused.find((x) => x.Source.includes("unsigned"))!.Message, /no signature found/);
    assert.match(r.stderr, /refused by the signature policy/);

    const good = JSON.parse((await skopeo(["list-tags", `docker://${dst.host}/mirror/team/good`], { tlsVerify: false })).stdout) as {
      Tags: string[];
    };
    assert.deepEqual(good.Tags.sort(), ["1.0", `sha256-${images["team/good"]!.manifest.digest.hex}.sig`].sort());
    const raw = await skopeo(["inspect", "--raw", `docker://${dst.host}/mirror/team/good:1.0`], { tlsVerify: false });
    assert.equal(raw.stdoutBytes.equals(images["team/good"]!.manifest.bytes), true);
    for (const repo of ["team/otherkey", "team/unsigned"]) {
      const gone = await skopeo(["list-tags", `docker://${dst.host}/mirror/${repo}`], { tlsVerify: false });
      assert.notEqual(gone.code, 0, `${repo} reached the mirror: ${gone.stdout}`);
    }
    // Downstream, the mirror verifies under the upstream name.
    const again = await dray([
      "verify",
      `docker://${dst.host}/mirror/team/good:1.0`,
      "--key",
      trusted.pub,
      "--signed-identity",
      `${src.host}/team/good`,
    ]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });

  it("a rule's verify: alone gates its rule; a bad key file or policy in any verify block is exit 2 before anything is read", async () => {
    const file = join(dir, "rule.yaml");
    /** A sync file of one rule (team/good), with `top` lines at the top and `rule` lines under the rule. */
    const write = (top: string[], rule: string[]): Promise<void> =>
      writeFile(file, [...top, `sync:`, `  - source: ${src.host}/team/good`, `    destination: ${dst.host}/rule`, ...rule, ""].join("\n"));
    await write([`verify:`, `  key: ${join(dir, "missing.pub")}`], []);
    const bad = await dray(["sync", file]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /key file .*missing\.pub.* does not exist/);
    // The top-level policy is still loaded (and missing): every verify block is checked before the run.
    await write([`verify:`, `  policy: ${join(dir, "missing.json")}`], [`    verify: { keys: [${trusted.pub}] }`]);
    assert.equal((await dray(["sync", file])).code, 2);
    await write([], [`    verify: { keys: [${trusted.pub}] }`]);
    const ok = await dray(["sync", file]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
