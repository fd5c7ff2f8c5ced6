// Referrers stored as ORAS and regclient store them in an OCI layout (issue 27
// item 21): untagged index.json entries whose manifest carries a `subject`,
// with no `sha256-<hex>` index naming them. regclient's own testdata/testrepo
// (test/peers/regclient) holds two SBOMs so for its `v3` index; dray referrers,
// copy --referrers and sync find them, beside the tag-schema ones of `v2`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { drayOk } from "../cli/run.js";
import { copyPeerFixture } from "../helpers/peers.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

const V3 = "sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d";
const SBOM = "application/example.sbom";

interface ReferrerNode {
  Digest: string;
  ArtifactType?: string;
  Source: string;
  Subject: string;
  Referrers: ReferrerNode[];
}

async function referrersOf(loc: string): Promise<ReferrerNode[]> {
  const r = await drayOk(["referrers", "--format", "json", "--depth", "1", loc]);
  return (JSON.parse(r.stdout) as { Referrers: ReferrerNode[] }).Referrers;
}

describe("referrers stored in a layout's index.json with a subject (regclient testdata/testrepo)", () => {
  let repo: string;
  let reg: RegistryHandle;
  let v3Sboms: string[];

  before(async () => {
    repo = await copyPeerFixture("regclient/testdata/testrepo");
    reg = await startRegistry();
    // The fixture's untagged index.json entries (two SBOMs of v3, as its README says).
    const index = JSON.parse(readFileSync(join(repo, "index.json"), "utf8")) as { manifests: { digest: string; annotations?: object }[] };
    v3Sboms = index.manifests
      .filter((m) => !m.annotations)
      .map((m) => m.digest)
      .sort();
    assert.equal(v3Sboms.length, 2);
  });

  it("dray referrers lists the untagged entries whose subject is the image", async () => {
    const found = await referrersOf(`oci:${repo}:v3`);
    assert.deepEqual(
      found.map((n) => [n.Digest, n.ArtifactType, n.Source, n.Subject]).sort(),
      v3Sboms.map((d) => [d, SBOM, "index-json", V3]),
    );
  });

  it("a referrer both in the tag-schema index and in index.json is listed once (v2: a1 and a2)", async () => {
    const found = await referrersOf(`oci:${repo}:v2`);
    const digests = found.map((n) => n.Digest);
    assert.equal(new Set(digests).size, digests.length);
    assert.ok(found.some((n) => n.ArtifactType === "application/example.sbom"));
    assert.ok(found.some((n) => n.ArtifactType === "application/example.signature"));
  });

  it("dray copy --referrers carries them, into a layout and to a registry", async () => {
    const out = join(makeTempDir(), "out");
    await drayOk(["copy", "-q", "--referrers", `oci:${repo}:v3`, `oci:${out}:v3`]);
    assert.deepEqual((await referrersOf(`oci:${out}:v3`)).map((n) => n.Digest).sort(), v3Sboms);
    await drayOk(["copy", "-q", "--referrers", `oci:${repo}:v3`, `docker://${reg.host}/testrepo:v3`]);
    assert.deepEqual((await referrersOf(`docker://${reg.host}/testrepo:v3`)).map((n) => n.Digest).sort(), v3Sboms);
  });

  it("dray sync carries them", async () => {
    await drayOk(["sync", "-q", "--tag", "v3", `oci:${repo}`, `docker://${reg.host}/synced`]);
    assert.deepEqual((await referrersOf(`docker://${reg.host}/synced:v3`)).map((n) => n.Digest).sort(), v3Sboms);
  });
});
