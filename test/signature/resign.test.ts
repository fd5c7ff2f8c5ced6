// Re-signing on import (issue 25 item 2): `dray copy … --sign-key` and
// `dray sync … --sign-key` / a sync file's `sign-key`. A mirror site signs
// what it imports with its own key: every image at the destination verifies
// with the new key, none with the upstream's once its signatures are left
// behind; the signature is written before the tag (the proxy's log says in
// which order the destination heard it); a conversion signs the new digest;
// with the gate, the source is verified first. Destinations: a second
// distribution 2.8 registry (tag-schema index), an OCI layout and a
// whole-mirror oci-archive. Bundles are also checked by @sigstore/verify.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { buildImage, buildIndex, pushImage } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { opensslKey, sigstoreVerifies } from "./artifacts.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function ok(r: { code: number; stdout: string; stderr: string }): void {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

describe("re-signing on copy and sync: the destination's images verify with the new key", () => {
  let upstream: RegistryHandle;
  let mirror: RegistryHandle;
  let proxy: FaultProxy;
  let dir: string;
  let oldKey: ReturnType<typeof opensslKey>;
  let newKey: ReturnType<typeof opensslKey>;
  const digests: Record<string, string> = {};

  before(async () => {
    [upstream, mirror] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startProxy(mirror);
    dir = makeTempDir("dray-resign-");
    oldKey = opensslKey(dir, "upstream", "ec");
    newKey = opensslKey(dir, "mirror", "ec384");
    // Upstream: app:1 and app:2 (images), multi:1 (an index), each signed with the upstream key; bare:1 unsigned.
    digests["app:1"] = (await pushImage(upstream, "team/app", "1", await buildImage({ seed: "resign-1" }))).toString();
    digests["app:2"] = (await pushImage(upstream, "team/app", "2", await buildImage({ seed: "resign-2" }))).toString();
    digests["multi:1"] = (await pushImage(upstream, "team/multi", "1", await buildIndex({ seed: "resign-multi" }))).toString();
    await pushImage(upstream, "team/bare", "1", await buildImage({ seed: "resign-bare" }));
    for (const ref of ["team/app:1", "team/app:2", "team/multi:1"])
      ok(await dray(["sign", "-q", "--key", oldKey.key, "--format", "both", `${upstream.host}/${ref}`]));
  });
  after(async () => {
    await proxy.stop();
    await Promise.all([upstream.stop(), mirror.stop()]);
  });

  const verify = (key: string, loc: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> =>
    dray(["verify", "--key", key, ...extra, loc]);

  it("sync into a second registry: every image verifies with the new key, none with the old; the signature precedes the tag", async () => {
    const r = await dray([
      "sync",
      "--no-referrers",
      "--sign-key",
      newKey.key,
      "--sign-format",
      "both",
      upstream.host,
      `${proxy.host}/site`,
    ]);
    ok(r);
    assert.match(r.stderr, /re-signing every image copied with key SHA256:/);
    assert.match(r.stderr, /no transparency log entry was written/);
    assert.equal(r.stderr.match(/signed: bundle sha256:\S+, legacy sha256:/g)?.length, 4, r.stderr);
    for (const ref of ["app:1", "app:2", "multi:1", "bare:1"]) {
      ok(await verify(newKey.pub, `${mirror.host}/site/team/${ref}`));
      assert.equal((await verify(oldKey.pub, `${mirror.host}/site/team/${ref}`)).code, 6, `${ref} must not verify with the upstream key`);
    }
    // The order the mirror heard: the image's tag-schema index and .sig tag (the signatures) before its tag.
    const puts = proxy.log
      .filter((e) => e.method === "PUT" && e.path.includes("/site/team/app/manifests/"))
      .map((e) => e.path.split("/manifests/")[1]!);
    const hex = digests["app:1"]!.slice("sha256:".length);
    const tagAt = puts.indexOf("1");
    assert.ok(tagAt > 0, puts.join(" "));
    assert.ok(puts.indexOf(`sha256-${hex}`) >= 0 && puts.indexOf(`sha256-${hex}`) < tagAt, puts.join(" "));
    assert.ok(puts.indexOf(`sha256-${hex}.sig`) >= 0 && puts.indexOf(`sha256-${hex}.sig`) < tagAt, puts.join(" "));
    // The legacy payload names the mirror's repository, not the upstream's.
    const client = new TestRegistryClient(mirror);
    try {
      const sig = JSON.parse((await client.getManifest("site/team/app", `sha256-${hex}.sig`, [OCI_MANIFEST])).body.toString("utf8")) as {
        layers: Array<{ digest: string }>;
      };
      const payload = JSON.parse((await client.getBlob("site/team/app", sig.layers[0]!.digest)).body.toString("utf8")) as {
        critical: { identity: { "docker-reference": string } };
      };
      assert.equal(payload.critical.identity["docker-reference"], `${proxy.host}/site/team/app`);
      // The bundle, by @sigstore/verify itself.
      const index = JSON.parse((await client.getManifest("site/team/app", `sha256-${hex}`, [OCI_INDEX])).body.toString("utf8")) as {
        manifests: Array<{ digest: string }>;
      };
      const artifact = JSON.parse(
        (await client.getManifest("site/team/app", index.manifests[0]!.digest, [OCI_MANIFEST])).body.toString("utf8"),
      ) as {
        layers: Array<{ digest: string }>;
      };
      sigstoreVerifies((await client.getBlob("site/team/app", artifact.layers[0]!.digest)).body, newKey.pub);
    } finally {
      await client.close();
    }
    // A second run: everything is up to date and nothing is signed again.
    const again = await dray(["sync", "--no-referrers", "--sign-key", newKey.key, upstream.host, `${mirror.host}/site`]);
    ok(again);
    assert.doesNotMatch(again.stderr, /signed:/);
  });

  it("a sync file's sign-key with its verify gate: the source is verified first, refused images are neither copied nor signed", async () => {
    const file = join(dir, "sync.yaml");
    writeFileSync(
      file,
      [
        "verify:",
        `  keys: [${oldKey.pub}]`,
        `sign-key: ${newKey.key}`,
        "sync:",
        `  - source: ${upstream.host}/team/app`,
        `    destination: ${mirror.host}/gated`,
        `  - source: ${upstream.host}/team/bare`,
        `    destination: ${mirror.host}/gated`,
        "",
      ].join("\n"),
    );
    const r = await dray(["sync", "-f", "json", file]);
    assert.equal(r.code, 6, r.stderr);
    const summary = JSON.parse(r.stdout) as {
      Items: Array<{ Source: string; Destination: string; Outcome: string; Signatures?: Array<{ Format: string }> }>;
    };
    const bare = summary.Items.find((i) => i.Source.endsWith("team/bare:1"))!;
    assert.equal(bare.Outcome, "refused");
    assert.equal(bare.Signatures, undefined);
    const app = summary.Items.filter((i) => i.Source.includes("team/app:"));
    assert.deepEqual(
      app.map((i) => [i.Outcome, i.Signatures?.map((s) => s.Format)]),
      [
        ["copied", ["bundle"]],
        ["copied", ["bundle"]],
      ],
    );
    // The gate carries the upstream's signatures along: the mirror's images verify with either key.
    for (const i of app) {
      ok(await verify(newKey.pub, i.Destination));
      ok(await verify(oldKey.pub, i.Destination));
    }
    assert.equal((await dray(["inspect", bare.Destination])).code, 3);
  });

  it("sync into a whole-mirror oci-archive: dray verify finds the new signature in the archive", async () => {
    const tar = join(dir, "mirror.tar");
    ok(await dray(["sync", "-q", "--no-referrers", "--sign-key", newKey.key, `${upstream.host}/team/app`, `oci-archive:${tar}`]));
    const names = await dray(["ls", `oci-archive:${tar}`]);
    ok(names);
    const name = names.stdout.split("\n").find((l) => l.endsWith(":1"))!;
    assert.ok(name, names.stdout);
    ok(await verify(newKey.pub, `oci-archive:${tar}:${name}`));
    assert.equal((await verify(oldKey.pub, `oci-archive:${tar}:${name}`)).code, 6);
    // Legacy alone: the payload names the archive's REPO, and dray verify of REPO:TAG matches it without --signed-identity.
    const legacyTar = join(dir, "mirror-legacy.tar");
    ok(
      await dray([
        "sync",
        "-q",
        "--no-referrers",
        "--sign-key",
        newKey.key,
        "--sign-format",
        "legacy",
        `${upstream.host}/team/app`,
        `oci-archive:${legacyTar}`,
      ]),
    );
    const v = await verify(newKey.pub, `oci-archive:${legacyTar}:${name}`);
    ok(v);
    assert.match(v.stdout, /cosign\t.*accepted/);
    const other = await verify(newKey.pub, `oci-archive:${legacyTar}:${name}`, ["--signed-identity", "elsewhere/app"]);
    assert.equal(other.code, 6, other.stdout);
  });

  it("copy --sign-key with a conversion signs the new digest, and the tag names it", async () => {
    const r = await dray([
      "copy",
      "--manifest-format",
      "docker",
      "--sign-key",
      newKey.key,
      `${upstream.host}/team/app:1`,
      `${mirror.host}/conv/app:1`,
    ]);
    ok(r);
    const digest = r.stdout.trim();
    assert.notEqual(digest, digests["app:1"]);
    assert.match(r.stderr, new RegExp(`signed ${digest} with key SHA256:`));
    const v = await verify(newKey.pub, `${mirror.host}/conv/app:1`, ["-f", "json"]);
    ok(v);
    assert.equal((JSON.parse(v.stdout) as { Digest: string }).Digest, digest);
  });

  it("copy --sign-key into an OCI layout, with the gate: verified first, signed there, tag last", async () => {
    const layout = join(dir, "layout");
    const r = await dray([
      "copy",
      "--verify-key",
      oldKey.pub,
      "--sign-key",
      newKey.key,
      "-f",
      "json",
      `${upstream.host}/team/multi:1`,
      `oci:${layout}:1`,
    ]);
    ok(r);
    assert.ok(r.stderr.indexOf("dray: verified") < r.stderr.indexOf("dray: signed"), r.stderr);
    const out = JSON.parse(r.stdout) as { Digest: string; Signed: Array<{ Subject: string; Format: string; Via: string }> };
    assert.deepEqual(
      out.Signed.map((s) => [s.Subject, s.Format, s.Via]),
      [[digests["multi:1"], "bundle", "tag-schema"]],
    );
    ok(await verify(newKey.pub, `oci:${layout}:1`));
    // Legacy signatures name a repository, which a layout has not: refused before anything moves.
    const legacy = await dray([
      "copy",
      "--sign-key",
      newKey.key,
      "--sign-format",
      "legacy",
      `${upstream.host}/team/app:2`,
      `oci:${layout}:2`,
    ]);
    assert.equal(legacy.code, 2);
    assert.equal((await dray(["inspect", `oci:${layout}:2`])).code, 3);
  });

  it("an image the destination has already (mirrored before --sign-key, or copied again) is signed where it is, once", async () => {
    // Mirrored without a key first: then --sign-key is added to the job.
    ok(await dray(["sync", "-q", "--no-referrers", `${upstream.host}/team/bare`, `${mirror.host}/late/bare`]));
    assert.equal((await verify(newKey.pub, `${mirror.host}/late/bare:1`)).code, 6);
    const resync = (): ReturnType<typeof dray> =>
      dray(["sync", "--no-referrers", "--sign-key", newKey.key, `${upstream.host}/team/bare`, `${mirror.host}/late/bare`]);
    const first = await resync();
    ok(first);
    assert.match(first.stderr, /up to date .*signed: bundle sha256:/, first.stderr);
    ok(await verify(newKey.pub, `${mirror.host}/late/bare:1`));
    // A second run writes nothing: the key's signature is there.
    const again = await resync();
    ok(again);
    assert.doesNotMatch(again.stderr, /signed:/);
    const listed = JSON.parse((await dray(["referrers", "--format", "json", `${mirror.host}/late/bare:1`])).stdout) as {
      Referrers: unknown[];
    };
    assert.equal(listed.Referrers.length, 1);
    // copy onto an up-to-date tag: signed (JSON says so), then not again; legacy is added next to the bundle.
    ok(await dray(["copy", "-q", `${upstream.host}/team/bare:1`, `${mirror.host}/late/copied:1`]));
    const copied = await dray([
      "copy",
      "-q",
      "--sign-key",
      newKey.key,
      "--format",
      "json",
      `${upstream.host}/team/bare:1`,
      `${mirror.host}/late/copied:1`,
    ]);
    ok(copied);
    const doc = JSON.parse(copied.stdout) as { UpToDate: boolean; Signed: Array<{ Format: string }> };
    assert.equal(doc.UpToDate, true);
    assert.deepEqual(
      doc.Signed.map((x) => x.Format),
      ["bundle"],
    );
    const both = await dray([
      "copy",
      "-q",
      "--sign-key",
      newKey.key,
      "--sign-format",
      "both",
      "--format",
      "json",
      `${upstream.host}/team/bare:1`,
      `${mirror.host}/late/copied:1`,
    ]);
    ok(both);
    assert.deepEqual(
      (JSON.parse(both.stdout) as typeof doc).Signed.map((x) => x.Format),
      ["legacy"],
    );
    ok(await verify(newKey.pub, `${mirror.host}/late/copied:1`));
  });

  it("bad signing input is refused before anything moves", async () => {
    const archive = await dray(["copy", "--sign-key", newKey.key, `${upstream.host}/team/app:1`, `oci-archive:${join(dir, "one.tar")}:1`]);
    assert.equal(archive.code, 2);
    assert.match(archive.stderr, /--sign-key signs at a registry or an OCI layout/);
    // A docker-archive holds no signatures: refused as plainly, before the key is even read (a missing key file,
    // or a password that would be asked for, is not what the user has to fix first); nothing written.
    for (const key of [newKey.key, join(dir, "no-such.key")]) {
      const docker = await dray([
        "copy",
        "--sign-key",
        key,
        `${upstream.host}/team/app:1`,
        `docker-archive:${join(dir, "one-d.tar")}:team/app:1`,
      ]);
      assert.equal(docker.code, 2, docker.stderr);
      assert.match(
        docker.stderr,
        /^dray: --sign-key signs at a registry or an OCI layout \(oci:DIR\), not docker-archive: \(a docker-archive holds no signatures\)/,
      );
      assert.equal(existsSync(join(dir, "one-d.tar")), false);
    }
    const pub = await dray(["sync", "--sign-key", newKey.pub, `${upstream.host}/team/app`, `${mirror.host}/never`]);
    assert.equal(pub.code, 2);
    assert.match(pub.stderr, /a public key; signing needs the private key/);
    assert.equal((await dray(["ls", `${mirror.host}/never`])).code, 3);
    const fmt = await dray(["copy", "--sign-format", "both", `${upstream.host}/team/app:1`, `${mirror.host}/never:1`]);
    assert.equal(fmt.code, 2);
    assert.match(fmt.stderr, /--sign-format goes with --sign-key/);
    // A password piped in for a signing key never named: refused, not ignored.
    for (const cmd of [
      ["copy", `${upstream.host}/team/app:1`, `${mirror.host}/never:1`],
      ["sync", `${upstream.host}/team/app`, `${mirror.host}/never`],
    ]) {
      const r = await dray([...cmd, "--key-password-stdin"], { input: "secret\n" });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--key-password-stdin goes with --sign-key/);
    }
    assert.equal((await dray(["ls", `${mirror.host}/never`])).code, 3);
  });
});
