// Referrers API detection as vendors answer it, emulated with the fault proxy
// in front of the real registry (distribution 2.8, which has no referrers API
// and answers its route with a plain-text "404 page not found").
//
// The OCI distribution spec 1.1 ("Listing Referrers"): a registry with the API
// MUST NOT answer 404 to a referrers request; ("Pushing Manifests with
// Subject"): a registry that processed a pushed manifest's `subject` answers
// with an `OCI-Subject` header, and only when it does not must the client keep
// the `sha256-<hex>` tag schema index itself. Vendors bend the first rule for
// an unknown subject: Quay answers 400 (quay/quay#3071, PROJQUAY-7523),
// Harbor 2.8–2.10 answer 404 with a JSON error (goharbor/harbor#18418, fixed
// in 2.11 by goharbor/harbor#20068). Neither means "no API".
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTempDir } from "../helpers/tmp.js";
import { startVendor, type VendorEmulation } from "../helpers/vendor.js";
import { fetchManifest, listTags, pushSignedImage, type SignedImage } from "../sync/artifacts.js";
import { dray } from "../cli/run.js";

/** Quay's answer for a subject it does not hold (quay/quay#3071 turned its 404 into a 400). */
const QUAY_UNKNOWN = '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}';

describe("vendor referrers detection", () => {
  let v: VendorEmulation;
  let signed: SignedImage;
  let auth: string[];
  const loc = (path: string): string => `docker://${v.ref(path)}`;

  before(async () => {
    v = await startVendor();
    signed = await pushSignedImage(v.target, "lib/src", "1.0", "vendor-referrers");
    auth = ["--creds", `${v.username}:${v.password}`, "--ca-file", v.caFile];
  });
  after(() => v.hosts.stop());

  /** Copies the signed image with its referrers into `repo`; returns the destination's tags. */
  async function copyInto(repo: string): Promise<string[]> {
    const r = await dray(["copy", "--referrers", loc("lib/src:1.0"), loc(`${repo}:1.0`), ...auth], { env: v.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Referrers: 2 copied, 0 up to date, 0 failed/);
    // The signature artifact arrived under its own digest, and cosign's tag as a tag, whatever the form.
    assert.deepEqual(await fetchManifest(v.target, repo, signed.sig.manifest.digest.toString()), signed.sig.manifest.bytes);
    return listTags(v.target, repo);
  }

  /** The referrers route of `repo` answers `status` with an error body; the copy must read it as "API, no referrers". */
  async function copyBehindReferrersError(repo: string, status: number, body: string): Promise<void> {
    const rule = v.front.addRule({ method: "GET", path: `/v2/${repo}/referrers/`, action: { kind: "status", status, body } });
    try {
      const tags = await copyInto(repo);
      assert.ok(rule.hits >= 1, "the referrers API was asked");
      assert.deepEqual(tags, ["1.0", `sha256-${signed.hex}.sig`]);
    } finally {
      rule.remove();
    }
  }

  it("Quay: referrers answers 400 for an unknown subject (quay/quay#3071) — the API exists, so no sha256- fallback tag is written", () =>
    copyBehindReferrersError("quay/app", 400, QUAY_UNKNOWN));

  it("Harbor 2.9: referrers answers 404 with a JSON error body (goharbor/harbor#18418) — the API exists, no sha256- fallback tag", () =>
    copyBehindReferrersError(
      "harbor/app",
      404,
      `{"errors":[{"code":"NOT_FOUND","message":"artifact harbor/app@${signed.img.manifest.digest} not found"}]}`,
    ));

  it("registry indexing subjects: OCI-Subject on the referrer's manifest PUT -> no sha256- tag written (tag list of the real registry)", async () => {
    // The referrers route still answers distribution's plain 404: only the PUT's header says the subject was indexed.
    const indexed = v.front.addRule({
      method: "PUT",
      path: `/v2/indexing/app/manifests/${signed.sig.manifest.digest}`,
      action: { kind: "setHeaders", headers: { "OCI-Subject": signed.img.manifest.digest.toString() } },
    });
    try {
      const tags = await copyInto("indexing/app");
      assert.equal(indexed.hits, 1, "the referrer was PUT once and answered with OCI-Subject");
      assert.deepEqual(tags, ["1.0", `sha256-${signed.hex}.sig`]);
    } finally {
      indexed.remove();
    }
  });

  it("distribution 2.8: a plain-text 404 from the referrers route is no API — the sha256- fallback index is written", async () => {
    const tags = await copyInto("plain/app");
    assert.deepEqual(tags, ["1.0", `sha256-${signed.hex}`, `sha256-${signed.hex}.sig`]);
    assert.deepEqual(await fetchManifest(v.target, "plain/app", `sha256-${signed.hex}`), signed.index.bytes);
  });

  it("a 404 whose JSON error says UNSUPPORTED (the spec's code for an operation not implemented) is no API — the fallback index is written", async () => {
    const unsupported = v.front.addRule({
      method: "GET",
      path: "/v2/unsupported/app/referrers/",
      action: { kind: "status", status: 404, body: '{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}' },
    });
    try {
      const tags = await copyInto("unsupported/app");
      assert.ok(unsupported.hits >= 1);
      assert.deepEqual(tags, ["1.0", `sha256-${signed.hex}`, `sha256-${signed.hex}.sig`]);
    } finally {
      unsupported.remove();
    }
  });

  it("decided per repository, not per host: one sync run, a Quay-like repository beside a plain one on the same registry", async () => {
    const second = await pushSignedImage(v.target, "lib/second", "1.0", "vendor-referrers-2");
    const quay = v.front.addRule({
      method: "GET",
      path: "/v2/mix/lib/src/referrers/",
      action: { kind: "status", status: 400, body: QUAY_UNKNOWN },
    });
    const dir = makeTempDir("dray-vendor-referrers-");
    const file = join(dir, "sync.yaml");
    writeFileSync(
      file,
      [
        `destination: ${v.registryHost}/mix`,
        "registries:",
        `  ${v.registryHost}:`,
        `    username: ${v.username}`,
        `    password: ${v.password}`,
        `    ca-file: ${v.caFile}`,
        "sync:",
        `  - source: ${v.registryHost}`,
        "    repositories: [lib/src, lib/second]",
        "    tags: ['1.0']",
        "",
      ].join("\n"),
    );
    try {
      const r = await dray(["sync", file, "--jobs", "1"], { env: v.env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(quay.hits >= 1, "the Quay-like repository was asked");
      assert.deepEqual(await listTags(v.target, "mix/lib/src"), ["1.0", `sha256-${signed.hex}.sig`]);
      assert.deepEqual(await listTags(v.target, "mix/lib/second"), ["1.0", `sha256-${second.hex}`, `sha256-${second.hex}.sig`]);
    } finally {
      quay.remove();
    }
  });
});
