// Referrers in oci-archives everywhere (issue 27 item 8): `copy --referrers`
// into and out of an oci-archive, and `dray referrers` of one, plain
// (`oci-archive:FILE:TAG`) or a whole-mirror archive that sync wrote
// (`oci-archive:FILE:REPO:TAG`). skopeo reads the tag-schema index dray put
// into the archive. A docker-archive, which holds no referrers, and an archive
// on a pipe are refused up front, with nothing written.
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray, drayOk } from "../cli/run.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { SIGNATURE_TYPE, pushSignedImage, type SignedImage } from "../sync/artifacts.js";

interface ReferrerNode {
  Digest: string;
  ArtifactType?: string;
  Source: string;
  Tag?: string;
}

async function referrersOf(loc: string): Promise<ReferrerNode[]> {
  const r = await drayOk(["referrers", "--format", "json", "--depth", "1", loc]);
  return (JSON.parse(r.stdout) as { Referrers: ReferrerNode[] }).Referrers;
}

/** What every side must list for the signed image: its OCI 1.1 signature and its cosign .sig. */
function expected(signed: SignedImage): string[][] {
  return [
    [signed.sig.manifest.digest.toString(), SIGNATURE_TYPE],
    [signed.cosign.manifest.digest.toString(), "cosign-tag"],
  ].sort();
}

function summary(nodes: ReferrerNode[]): string[][] {
  return nodes.map((n) => [n.Digest, n.Source === "cosign-tag" ? "cosign-tag" : (n.ArtifactType ?? "")]).sort();
}

describe("referrers in oci-archives (issue 27 item 8)", () => {
  let reg: RegistryHandle;
  let signed: SignedImage;
  let dir: string;
  const image = (): string => `docker://${reg.host}/app:v1`;

  before(async () => {
    reg = await startRegistry();
    signed = await pushSignedImage(reg, "app", "v1", "archive-referrers");
    dir = makeTempDir();
  });

  it("copy --referrers into an oci-archive: the archive holds them, dray referrers and skopeo read them", async () => {
    const file = join(dir, "a.tar");
    const r = await dray(["copy", "--referrers", image(), `oci-archive:${file}:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Referrers: 2 copied, 0 up to date, 0 failed/);
    assert.deepEqual(summary(await referrersOf(`oci-archive:${file}:v1`)), expected(signed));
    // skopeo reads the tag schema's index out of the archive by its name.
    const index = JSON.parse((await skopeoInspectRaw(`oci-archive:${file}:sha256-${signed.hex}`)).toString()) as {
      manifests: { digest: string }[];
    };
    assert.deepEqual(
      index.manifests.map((d) => d.digest),
      [signed.sig.manifest.digest.toString()],
    );
    // Again: the image is written anew into the archive, which keeps what it held; the referrers are up to date
    // (the cosign tag by its digest, the signature by the same sha256-<hex> index on both sides).
    const again = await drayOk(["copy", "--referrers", image(), `oci-archive:${file}:v1`]);
    assert.match(again.stderr, /Referrers: 0 copied, 1 up to date, 0 failed/);
    assert.deepEqual(summary(await referrersOf(`oci-archive:${file}:v1`)), expected(signed));
  });

  it("copy --referrers out of an oci-archive, into a registry", async () => {
    const file = join(dir, "a.tar");
    await drayOk(["copy", "-q", "--referrers", `oci-archive:${file}:v1`, `docker://${reg.host}/back:v1`]);
    assert.deepEqual(summary(await referrersOf(`docker://${reg.host}/back:v1`)), expected(signed));
  });

  it("an archive on read-only media: dray referrers and copy --referrers read it in place (nothing unpacked beside it)", async () => {
    // Someone who may read the archive and its folder but write neither, as on a mounted USB stick (the tests run as
    // root, whom permissions do not stop).
    const ro = makeTempDir();
    copyFileSync(join(dir, "a.tar"), join(ro, "a.tar"));
    chmodSync(join(ro, "a.tar"), 0o444);
    chmodSync(ro, 0o555);
    const nobody = { uid: 65534, gid: 65534 };
    const out = makeTempDir();
    chmodSync(out, 0o777);
    const r = await dray(["referrers", "--format", "json", "--depth", "1", `oci-archive:${ro}/a.tar:v1`], {
      user: nobody,
      env: { HOME: out },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(summary((JSON.parse(r.stdout) as { Referrers: ReferrerNode[] }).Referrers), expected(signed));
    const c = await dray(["copy", "-q", "--referrers", `oci-archive:${ro}/a.tar:v1`, `oci:${out}/layout:v1`], {
      user: nobody,
      env: { HOME: out },
    });
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(summary(await referrersOf(`oci:${out}/layout:v1`)), expected(signed));
    assert.deepEqual(readdirSync(ro), ["a.tar"]);
  });

  it("a whole-mirror archive (sync): dray referrers and copy --referrers of oci-archive:FILE:REPO:TAG", async () => {
    const mirror = join(dir, "mirror.tar");
    await drayOk(["sync", "-q", `${reg.host}/app`, `oci-archive:${mirror}`]);
    assert.deepEqual(summary(await referrersOf(`oci-archive:${mirror}:app:v1`)), expected(signed));
    const out = join(dir, "out");
    await drayOk(["copy", "-q", "--referrers", `oci-archive:${mirror}:app:v1`, `oci:${out}:v1`]);
    assert.deepEqual(summary(await referrersOf(`oci:${out}:v1`)), expected(signed));
  });

  it("a whole-mirror archive: one repository's referrers are not another's, whatever digest they share", async () => {
    const mirror = join(dir, "scoped.tar");
    // The same image, unsigned, in a second repository: the registry lists no referrer for it there.
    await drayOk(["copy", "-q", image(), `docker://${reg.host}/plain:v1`]);
    await drayOk(["sync", "-q", `${reg.host}/app`, `oci-archive:${mirror}`]);
    await drayOk(["sync", "-q", `${reg.host}/plain`, `oci-archive:${mirror}`]);
    assert.deepEqual(summary(await referrersOf(`oci-archive:${mirror}:app:v1`)), expected(signed));
    assert.deepEqual(summary(await referrersOf(`oci-archive:${mirror}:plain:v1`)), []);
    // Staged for writing (a mirror repository of the archive's layout), the same: copy --referrers out of plain copies none.
    const out = join(dir, "scoped-out");
    const c = await dray(["copy", "--referrers", `oci-archive:${mirror}:plain:v1`, `oci:${out}:v1`]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /Referrers: 0 copied, 0 up to date, 0 failed/);
    // Synced back out (the archive staged as a layout, each repository a view of it): plain gets none either.
    await drayOk(["sync", "-q", `oci-archive:${mirror}`, `${reg.host}/back`]);
    assert.deepEqual(summary(await referrersOf(`docker://${reg.host}/back/app:v1`)), expected(signed));
    assert.deepEqual(summary(await referrersOf(`docker://${reg.host}/back/plain:v1`)), []);
  });

  it("a docker-archive or an archive on a pipe is refused up front (exit 2), nothing written", async () => {
    const file = join(dir, "d.tar");
    const d = await dray(["copy", "--referrers", image(), `docker-archive:${file}:app:v1`]);
    assert.equal(d.code, 2, d.stderr);
    assert.match(d.stderr, /^dray: --referrers needs a registry, an OCI layout \(oci:DIR\) or an oci-archive/);
    assert.equal(existsSync(file), false);
    const p = await dray(["copy", "--referrers", image(), "oci-archive:-"]);
    assert.equal(p.code, 2, p.stderr);
    assert.equal(p.stdout, "");
  });
});
