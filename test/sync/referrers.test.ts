import type { RawManifest } from "../../src/oci/manifest.js";
// copyReferrersOf (what `dray copy --referrers` calls after the image arrived)
// against a real registry (distribution 2.8, no referrers API: the tag schema)
// into another registry and into an OCI layout, and the merge with referrers
// the destination already lists.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { copy } from "../../src/copy/index.js";
import { parseManifest } from "../../src/oci/manifest.js";
import { copyReferrersOf } from "../../src/referrers/index.js";
import { copyReferrersAfterCopy } from "../../src/cli/commands/copy-referrers-run.js";
import type { CliContext } from "../../src/cli/context.js";
import { parseLocation } from "../../src/ref/location.js";
import { PassThrough } from "node:stream";
import { pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { isolateCredentials } from "../transport/registry/support.js";
import {
  SBOM_TYPE,
  SIGNATURE_TYPE,
  buildArtifact,
  buildReferrersIndex,
  fetchManifest,
  listTags,
  pushArtifact,
  putManifest,
  pushSignedImage,
  type BuiltArtifact,
} from "./artifacts.js";

describe("copyReferrersOf", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let img: BuiltImage;
  let sig: BuiltArtifact;
  let cosign: BuiltArtifact;
  let index: RawManifest;
  let hex: string;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    isolateCredentials();
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    ({ img, sig, cosign, index, hex } = await pushSignedImage(regA, "app", "1.0", "ref"));
  });

  it("registry to registry: the signature under its digest, the index and the .sig tag byte for byte; then up to date", async () => {
    const src = `${regA.host}/app:1.0`;
    const dst = `${regB.host}/copy/app:1.0`;
    const c = await copy(src, dst);
    const first = await copyReferrersOf(
      { transport: "docker", ref: { domain: regA.host, path: "app", tag: "1.0" } },
      { transport: "docker", ref: { domain: regB.host, path: "copy/app" } },
      [img.manifest.digest],
    );
    assert.equal(c.digest, img.manifest.digest.toString());
    assert.equal(first.failed, 0, JSON.stringify(first.items));
    assert.equal(first.copied, 2);
    assert.deepEqual(await fetchManifest(regB, "copy/app", sig.manifest.digest.toString()), sig.manifest.bytes);
    assert.deepEqual(await fetchManifest(regB, "copy/app", `sha256-${hex}`), index.bytes);
    assert.deepEqual(await fetchManifest(regB, "copy/app", `sha256-${hex}.sig`), cosign.manifest.bytes);
    const again = await copyReferrersOf(
      { transport: "docker", ref: { domain: regA.host, path: "app" } },
      { transport: "docker", ref: { domain: regB.host, path: "copy/app" } },
      [img.manifest.digest],
    );
    assert.deepEqual([again.copied, again.upToDate, again.failed], [0, 1, 0]);
  });

  it("registry to an OCI layout: the tag schema as ref.names, readable by skopeo", async () => {
    const dir = join(makeTempDir("dray-ref-layout-"), "app");
    await copy(`${regA.host}/app:1.0`, `oci:${dir}:1.0`);
    const r = await copyReferrersOf({ transport: "docker", ref: { domain: regA.host, path: "app" } }, { transport: "oci", path: dir }, [
      img.manifest.digest,
    ]);
    assert.equal(r.failed, 0, JSON.stringify(r.items));
    assert.equal(r.copied, 2);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:sha256-${hex}`), index.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:sha256-${hex}.sig`), cosign.manifest.bytes);
    assert.deepEqual(await readFile(join(dir, sig.manifest.digest.blobPath)), sig.manifest.bytes);
  });

  it("merges with the referrers the destination already lists, never dropping one", async () => {
    const other = buildArtifact(img.manifest, SBOM_TYPE, "dest-only-sbom");
    await pushImage(regB, "merge/app", "1.0", img);
    await pushArtifact(regB, "merge/app", other);
    await putManifest(regB, "merge/app", `sha256-${hex}`, buildReferrersIndex([other]));
    const r = await copyReferrersOf(
      { transport: "docker", ref: { domain: regA.host, path: "app" } },
      { transport: "docker", ref: { domain: regB.host, path: "merge/app" } },
      [img.manifest.digest],
    );
    assert.equal(r.failed, 0, JSON.stringify(r.items));
    const merged = await fetchManifest(regB, "merge/app", `sha256-${hex}`);
    const parsed = parseManifest(merged!, undefined, "merged");
    assert.equal(parsed.kind, "index");
    const digests = parsed.kind === "index" ? parsed.manifests.map((d) => d.digest.toString()) : [];
    assert.deepEqual(digests, [other.manifest.digest.toString(), sig.manifest.digest.toString()]);
    assert.ok((await listTags(regB, "merge/app")).includes(`sha256-${hex}.sig`));
  });

  it("the copy command's --referrers step: one line a referrer and a total; an archive destination is refused", async () => {
    const lines: string[] = [];
    const ctx: CliContext = {
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      signal: new AbortController().signal,
      color: false,
      debug: false,
      message: (l) => lines.push(l),
    };
    const src = parseLocation(`${regA.host}/app:1.0`);
    const dst = parseLocation(`${regB.host}/cli/app:1.0`);
    await copy(src, dst);
    const s = await copyReferrersAfterCopy(ctx, src, dst, [img.manifest.digest.toString()], {}, "lines");
    assert.equal(s.copied, 2);
    assert.ok(lines.includes(`referrer ${sig.manifest.digest} (${SIGNATURE_TYPE}): copied`), lines.join("\n"));
    assert.ok(lines.includes(`referrer sha256-${hex}.sig: copied`), lines.join("\n"));
    assert.match(lines.at(-1)!, /^Referrers: 2 copied, 0 up to date, 0 failed \(.*\) in [\d.]+ s$/);
    // A destination that cannot hold referrers: a docker-archive is refused before anything moves.
    await assert.rejects(
      copyReferrersAfterCopy(
        ctx,
        src,
        parseLocation(`docker-archive:${join(makeTempDir("dray-ref-x-"), "a.tar")}:app:1.0`),
        [img.manifest.digest.toString()],
        {},
        "none",
      ),
      { code: "E_UNSUPPORTED" },
    );
  });
});
