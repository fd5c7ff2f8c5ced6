// `sync` against two real registries (distribution 2.8) with a counting
// proxy in front of each: three repositories with regex, semver and newest
// filters, referrers (an OCI artifact with a subject, an SBOM with a
// signature of its own, a cosign `.sig` tag) copied along, a second run that
// finds nothing to do, blobs shared across repositories uploaded once.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { parseLocation } from "../../src/ref/location.js";
import { parseSyncSource, parseSyncTarget, sync, type SyncRule, type SyncSummary } from "../../src/sync/index.js";
import { buildImage, buildIndex, buildLayer, pushImage, seededBytes, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { isolateCredentials } from "../transport/registry/support.js";
import {
  SBOM_TYPE,
  SIGNATURE_TYPE,
  buildArtifact,
  buildCosignSignature,
  buildReferrersIndex,
  fetchManifest,
  listTags,
  pushArtifact,
  putManifest,
  type BuiltArtifact,
} from "./artifacts.js";

function rule(source: string, destination: string, extra: Partial<SyncRule> = {}): SyncRule {
  return { source: parseSyncSource(source).source, destination: parseSyncTarget(destination, false), ...extra };
}

/** Requests the proxy saw since `from` matching method and path. */
function countSince(p: FaultProxy, from: number, method: string, path?: RegExp): number {
  return p.log.slice(from).filter((e) => e.method === method && (path === undefined || path.test(e.path))).length;
}

describe("sync between registries", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let a: FaultProxy;
  let b: FaultProxy;
  const app = new Map<string, BuiltImage>();
  const tool = new Map<string, BuiltImage>();
  let web319: BuiltIndex;
  let sig: BuiltArtifact;
  let sbom: BuiltArtifact;
  let sbomSig: BuiltArtifact;
  let cosign: BuiltArtifact;
  let strayCosign: BuiltArtifact;
  let appIndex: ReturnType<typeof buildReferrersIndex>;
  let rules: SyncRule[];
  let first: SyncSummary;

  before(async () => {
    requireTool("docker-registry");
    isolateCredentials();
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    [a, b] = await Promise.all([startProxy(regA), startProxy(regB)]);
    // One base layer in every repository: it must reach the destination registry once.
    const base = await buildLayer([{ path: "base/os-release", content: seededBytes("base", 150_000) }]);
    for (const t of ["1.0.0", "1.2.0", "1.3.0", "2.0.0", "latest"]) app.set(t, await buildImage({ seed: `app-${t}`, baseLayers: [base] }));
    for (const t of ["v1.0", "v1.1", "v2.0-rc1", "dev"])
      // A Docker schema 2 manifest may carry only Docker layer types (containers/image refuses others, as dray
      // does): the same base blob, typed as Docker's tar.gzip.
      tool.set(
        t,
        await buildImage({ seed: `tool-${t}`, baseLayers: [{ ...base, mediaType: MediaType.DockerLayerGzip }], format: "docker" }),
      );
    web319 = await buildIndex({ seed: "web-3.19", platforms: ["linux/amd64", "linux/arm64/v8"], baseLayers: [base] });
    const web318 = await buildImage({ seed: "web-3.18", baseLayers: [base] });
    for (const [t, img] of app) await pushImage(regA, "team/app", t, img);
    for (const [t, img] of tool) await pushImage(regA, "team/tool", t, img);
    await pushImage(regA, "team/web", "3.18", web318);
    await pushImage(regA, "team/web", "3.19", web319);
    await pushImage(regA, "team/web", "edge", web318);

    // Referrers of app:1.3.0 as an OCI 1.1 client leaves them on a registry without the referrers API.
    const subject = app.get("1.3.0")!.manifest;
    sig = buildArtifact(subject, SIGNATURE_TYPE, "sig-1.3.0");
    sbom = buildArtifact(subject, SBOM_TYPE, "sbom-1.3.0");
    sbomSig = buildArtifact(sbom.manifest, SIGNATURE_TYPE, "sig-of-sbom");
    for (const art of [sig, sbom, sbomSig]) await pushArtifact(regA, "team/app", art);
    appIndex = buildReferrersIndex([sig, sbom]);
    await putManifest(regA, "team/app", `sha256-${subject.digest.hex}`, appIndex);
    await putManifest(regA, "team/app", `sha256-${sbom.manifest.digest.hex}`, buildReferrersIndex([sbomSig]));
    // cosign's tag for the same image, and one for an image the sync does not take.
    cosign = buildCosignSignature(subject, "cosign-1.3.0");
    await pushArtifact(regA, "team/app", cosign, `sha256-${subject.digest.hex}.sig`);
    strayCosign = buildCosignSignature(app.get("1.0.0")!.manifest, "cosign-1.0.0");
    await pushArtifact(regA, "team/app", strayCosign, `sha256-${app.get("1.0.0")!.manifest.digest.hex}.sig`);

    rules = [
      rule(`${a.host}/team/app`, `${b.host}/mirror`, { tags: { semver: ">=1.2.0 <2" } }),
      rule(`${a.host}/team/tool`, `${b.host}/mirror`, { tags: { regex: "^v1\\." } }),
      rule(`${a.host}/team/web`, `${b.host}/mirror`, { tags: { semver: ">=3", newest: 1 } }),
    ];
  });

  it("copies the tags each filter takes, with their referrers, digests unchanged", async () => {
    const fromA = a.log.length;
    const fromB = b.log.length;
    first = await sync(rules, { jobs: 4 });
    assert.deepEqual(first.failures, []);
    assert.deepEqual(first.images, { copied: 5, upToDate: 0, failed: 0, planned: 0, refused: 0 });
    assert.deepEqual(first.referrers, { copied: 4, upToDate: 0, failed: 0, planned: 0 });
    assert.deepEqual(await listTags(regB, "mirror/team/tool"), ["v1.0", "v1.1"]);
    assert.deepEqual(await listTags(regB, "mirror/team/web"), ["3.19"]);
    const h = app.get("1.3.0")!.manifest.digest.hex;
    assert.deepEqual(
      await listTags(regB, "mirror/team/app"),
      ["1.2.0", "1.3.0", `sha256-${h}`, `sha256-${h}.sig`, `sha256-${sbom.manifest.digest.hex}`].sort(),
    );
    for (const [repo, t, m] of [
      ["team/app", "1.3.0", app.get("1.3.0")!.manifest],
      ["team/tool", "v1.1", tool.get("v1.1")!.manifest],
      ["team/web", "3.19", web319.manifest],
    ] as const) {
      assert.deepEqual(await fetchManifest(regB, `mirror/${repo}`, t), m.bytes, `${repo}:${t}`);
    }
    // The referrers arrive under their own digests, the tag schema's index byte for byte.
    for (const art of [sig, sbom, sbomSig, cosign])
      assert.deepEqual(await fetchManifest(regB, "mirror/team/app", art.manifest.digest.toString()), art.manifest.bytes);
    assert.deepEqual(await fetchManifest(regB, "mirror/team/app", `sha256-${h}`), appIndex.bytes);
    assert.equal(
      await fetchManifest(regB, "mirror/team/app", strayCosign.manifest.digest.toString()),
      undefined,
      "a signature of an image not taken stays behind",
    );
    // The base layer went up once; the other repositories mounted it.
    const baseUploads = countSince(b, fromB, "PUT", /\/blobs\/uploads\/.*digest=sha256(%3A|:)/).valueOf();
    assert.ok(first.blobs.mounted >= 2, `mounted ${first.blobs.mounted}`);
    assert.ok(countSince(b, fromB, "POST", /mount=/) >= 2);
    assert.ok(baseUploads > 0);
    const basePuts = b.log
      .slice(fromB)
      .filter((e) => e.method === "PUT" && e.path.includes(app.get("1.3.0")!.layers[0]!.digest.hex)).length;
    assert.equal(basePuts, 1, "the shared base layer is uploaded once");
    // The source was asked once per repository whether it has the referrers API (distribution 2.8: a plain 404);
    // per repository, since one host may front several backends (Harbor proxy-cache projects, Artifactory virtual repos).
    assert.equal(countSince(a, fromA, "GET", /\/referrers\//), 3);
    report("first sync", first, a, fromA, b, fromB);
  });

  it("a second run finds nothing to do: one HEAD per tag a side, no manifest read, nothing written", async () => {
    const fromA = a.log.length;
    const fromB = b.log.length;
    const second = await sync(rules, { jobs: 4 });
    assert.deepEqual(second.failures, []);
    assert.deepEqual(second.images, { copied: 0, upToDate: 5, failed: 0, planned: 0, refused: 0 });
    assert.deepEqual(second.referrers, { copied: 0, upToDate: 1, failed: 0, planned: 0 });
    assert.deepEqual(second.blobs, { copied: 0, skipped: 0, mounted: 0 });
    // Source: one HEAD per tag taken (5 images) and per referrer tag of them (the index tags of
    // app:1.3.0 and of its SBOM, and the .sig tag). Destination: the same, plus one HEAD per
    // referrer subject that is not an image taken (the SBOM, and the image the stray .sig
    // belongs to): whether the destination holds it decides whether its referrers come along.
    assert.equal(countSince(a, fromA, "HEAD"), 5 + 3);
    assert.equal(countSince(b, fromB, "HEAD"), 5 + 3 + 2);
    assert.equal(countSince(a, fromA, "GET", /\/manifests\//), 0);
    assert.equal(countSince(b, fromB, "GET", /\/manifests\//), 0);
    for (const m of ["PUT", "POST", "PATCH", "DELETE"]) assert.equal(countSince(b, fromB, m), 0, `${m} at the destination`);
    report("second sync", second, a, fromA, b, fromB);
  });

  it("a new signature of an unchanged image is found and copied, the destination's index extended", async () => {
    const subject = app.get("1.3.0")!.manifest;
    const late = buildArtifact(subject, SIGNATURE_TYPE, "late-signature");
    await pushArtifact(regA, "team/app", late);
    const extended = buildReferrersIndex([sig, sbom, late]);
    await putManifest(regA, "team/app", `sha256-${subject.digest.hex}`, extended);
    const third = await sync(rules, { jobs: 4 });
    assert.deepEqual(third.failures, []);
    assert.equal(third.images.upToDate, 5);
    const copied = third.referrerItems.filter((r) => r.outcome === "copied").map((r) => r.digest);
    assert.ok(copied.includes(late.manifest.digest.toString()));
    assert.deepEqual(
      await fetchManifest(regB, "mirror/team/app", `sha256-${subject.digest.hex}`),
      extended.bytes,
      "same set as the source: the source's bytes",
    );
  });

  it("one repository failing (500 for every request) is reported while the others land", async () => {
    a.addRule({ path: "/v2/team/tool/", action: { kind: "status", status: 500, body: "boom" } });
    try {
      const target = `${b.host}/failing`;
      const summary = await sync(
        rules.map((r) => ({ ...r, destination: parseSyncTarget(target, false) })),
        { jobs: 2, sourceOptions: () => ({ retries: 0 }) },
      );
      assert.equal(summary.failures.length, 1, JSON.stringify(summary.failures));
      assert.match(summary.failures[0]!.source, /team\/tool/);
      assert.equal(summary.images.copied, 3);
      assert.deepEqual(await listTags(regB, "failing/team/web"), ["3.19"]);
      assert.deepEqual(await listTags(regB, "failing/team/tool"), []);
      process.stderr.write(`# failing repository: ${JSON.stringify(summary.failures)}; images ${JSON.stringify(summary.images)}\n`);
    } finally {
      a.clearRules();
    }
  });

  it("--fail-fast stops at the first failure", async () => {
    const summary = await sync(
      [
        rule(`${a.host}/team/missing`, `${b.host}/ff`),
        ...rules.map((r) => ({ ...r, destination: parseSyncTarget(`${b.host}/ff`, false) })),
      ],
      {
        jobs: 1,
        failFast: true,
      },
    );
    assert.equal(summary.failures.length, 1);
    assert.equal(summary.failures[0]!.code, "E_NOT_FOUND");
    assert.ok(summary.images.copied < 5);
  });

  it("dry run reports the plan and writes nothing", async () => {
    const fromB = b.log.length;
    const summary = await sync([rule(`${a.host}/team/app`, `${b.host}/dry`, { tags: { names: ["1.3.0", "nope"] } })], { dryRun: true });
    assert.equal(summary.images.planned, 1);
    assert.equal(summary.failures.length, 1, "a named tag that does not exist is a failure");
    assert.ok(summary.referrers.planned >= 3);
    for (const m of ["PUT", "POST", "PATCH"]) assert.equal(countSince(b, fromB, m), 0);
  });

  it("copies a whole repository without a file: SRC-REPO DST-REPO", async () => {
    const summary = await sync([
      { source: parseSyncSource(`${a.host}/team/web`).source, destination: parseSyncTarget(`${b.host}/exact/web`, true) },
    ]);
    assert.deepEqual(summary.failures, []);
    assert.deepEqual(await listTags(regB, "exact/web"), ["3.18", "3.19", "edge"]);
    assert.equal(parseLocation(`${b.host}/exact/web`).transport, "docker");
    assert.ok(Digest.isValid(summary.items[0]!.digest!));
    assert.equal(MediaType.OciIndex.length > 0, true);
  });
});

function report(what: string, s: SyncSummary, a: FaultProxy, fromA: number, b: FaultProxy, fromB: number): void {
  const by = (p: FaultProxy, from: number): string => {
    const m = new Map<string, number>();
    for (const e of p.log.slice(from)) m.set(e.method, (m.get(e.method) ?? 0) + 1);
    return [...m].map(([k, v]) => `${k} ${v}`).join(", ");
  };
  process.stderr.write(
    `# ${what}: images ${JSON.stringify(s.images)} referrers ${JSON.stringify(s.referrers)} blobs ${JSON.stringify(s.blobs)} bytes ${s.bytes} in ${s.seconds.toFixed(2)} s; ` +
      `source requests: ${by(a, fromA)}; destination requests: ${by(b, fromB)}\n`,
  );
}
