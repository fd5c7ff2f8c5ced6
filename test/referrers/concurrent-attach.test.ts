// Two `dray attach` at once to one image on a registry without the referrers
// API (the real distribution 2.8: the tag schema's `sha256-<hex>` index).
// Each reads the index, adds its artifact and PUTs it back: without a check,
// the later PUT drops the earlier one's entry. dray reads the index back after
// its PUT and merges again when its entry is missing, so both stay listed.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parseLocation } from "../../src/ref/location.js";
import { attach } from "../../src/referrers/attach.js";
import { copyReferrersOf } from "../../src/referrers/index.js";
import { signImage } from "../../src/signature/sign.js";
import { loadSigningKey } from "../../src/signature/signing-key.js";
import { opensslKey } from "../signature/artifacts.js";
import { buildImage, pushImage, writeOciLayout } from "../helpers/fixtures.js";
import { startProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { fetchManifest } from "../sync/artifacts.js";

const ROUNDS = 20;

/** The digests the layout's index.json entry `tag` lists (an OCI index), read as skopeo would. */
function listedInLayout(layout: string, tag: string): string[] {
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const entry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!entry) return [];
  const blob = JSON.parse(readFileSync(join(layout, "blobs", ...entry.digest.split(":")), "utf8")) as { manifests?: { digest: string }[] };
  return blob.manifests?.map((m) => m.digest) ?? [];
}

describe("concurrent attaches to a registry without the referrers API", () => {
  let reg: RegistryHandle;
  let dir: string;

  before(async () => {
    reg = await startRegistry();
    dir = makeTempDir();
  });

  it(`two attaches at once, ${ROUNDS} rounds: the sha256-<hex> index lists both every time`, async () => {
    const lost: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const subject = await buildImage({ seed: `concurrent-attach-${i}` });
      await pushImage(reg, "race", `r${i}`, subject);
      const files = [0, 1].map((k) => {
        const f = join(dir, `scan-${i}-${k}.txt`);
        writeFileSync(f, `scan ${i}/${k}\n`);
        return f;
      });
      const written = await Promise.all(
        files.map((path) =>
          attach(`docker://${reg.host}/race:r${i}`, { artifactType: "application/vnd.example.scan+text", files: [{ path }] }),
        ),
      );
      const index = await fetchManifest(reg, "race", `sha256-${subject.manifest.digest.hex}`);
      const listed = (JSON.parse(index?.toString() ?? "{}") as { manifests?: { digest: string }[] }).manifests?.map((m) => m.digest) ?? [];
      const missing = written.filter((w) => !listed.includes(w.digest));
      if (missing.length > 0) lost.push(`round ${i}: ${missing.map((w) => w.digest).join(", ")} not listed`);
    }
    assert.deepEqual(lost, [], `${lost.length} of ${ROUNDS} rounds lost an entry`);
  });

  it(`the same in an OCI layout, ${ROUNDS} rounds`, async () => {
    const lost: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const subject = await buildImage({ seed: `concurrent-attach-layout-${i}` });
      const layout = join(dir, `layout-${i}`);
      await writeOciLayout(layout, subject, "v1");
      const written = await Promise.all(
        [0, 1].map((k) => {
          const path = join(dir, `layout-scan-${i}-${k}.txt`);
          writeFileSync(path, `scan ${i}/${k}\n`);
          return attach(`oci:${layout}:v1`, { artifactType: "application/vnd.example.scan+text", files: [{ path }] });
        }),
      );
      const listed = listedInLayout(layout, `sha256-${subject.manifest.digest.hex}`);
      const missing = written.filter((w) => !listed.includes(w.digest));
      if (missing.length > 0) lost.push(`round ${i}: ${missing.map((w) => w.digest).join(", ")} not listed`);
    }
    assert.deepEqual(lost, [], `${lost.length} of ${ROUNDS} rounds lost an entry`);
  });

  it(`two copies of referrers at once (copy --referrers, sync), ${ROUNDS} rounds: the sha256-<hex> index lists both every time`, async () => {
    const lost: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const subject = await buildImage({ seed: `concurrent-copy-${i}` });
      await pushImage(reg, "race-copy", `r${i}`, subject);
      // Two sources holding the image, each with its own artifact of it in its tag schema index.
      const sources = await Promise.all(
        [0, 1].map(async (k) => {
          const layout = join(dir, `copy-src-${i}-${k}`);
          await writeOciLayout(layout, subject, "v1");
          const path = join(dir, `copy-scan-${i}-${k}.txt`);
          writeFileSync(path, `copied scan ${i}/${k}\n`);
          const a = await attach(`oci:${layout}:v1`, { artifactType: "application/vnd.example.scan+text", files: [{ path }] });
          return { layout, digest: a.digest };
        }),
      );
      const summaries = await Promise.all(
        sources.map((src) =>
          copyReferrersOf(parseLocation(`oci:${src.layout}:v1`), parseLocation(`docker://${reg.host}/race-copy:r${i}`), [
            subject.manifest.digest,
          ]),
        ),
      );
      assert.deepEqual(
        summaries.map((x) => x.failed),
        [0, 0],
      );
      const index = await fetchManifest(reg, "race-copy", `sha256-${subject.manifest.digest.hex}`);
      const listed = (JSON.parse(index?.toString() ?? "{}") as { manifests?: { digest: string }[] }).manifests?.map((m) => m.digest) ?? [];
      const missing = sources.filter((w) => !listed.includes(w.digest));
      if (missing.length > 0) lost.push(`round ${i}: ${missing.map((w) => w.digest).join(", ")} not listed`);
    }
    assert.deepEqual(lost, [], `${lost.length} of ${ROUNDS} rounds lost an entry`);
  });

  it(`three legacy signatures at once, ${ROUNDS / 4} rounds: cosign's .sig manifest keeps every layer`, async () => {
    const keys = await Promise.all([0, 1, 2].map((k) => loadSigningKey(opensslKey(dir, `legacy-${k}`, "ed25519").key, () => "")));
    const lost: string[] = [];
    for (let i = 0; i < ROUNDS / 4; i++) {
      const subject = await buildImage({ seed: `concurrent-legacy-${i}` });
      await pushImage(reg, "legacy", `r${i}`, subject);
      await Promise.all(keys.map((key) => signImage(parseLocation(`docker://${reg.host}/legacy:r${i}`), { key, format: "legacy" })));
      const sig = await fetchManifest(reg, "legacy", `sha256-${subject.manifest.digest.hex}.sig`);
      const layers = (JSON.parse(sig?.toString() ?? "{}") as { layers?: unknown[] }).layers?.length ?? 0;
      if (layers !== keys.length) lost.push(`round ${i}: ${layers} of ${keys.length} signatures`);
    }
    assert.deepEqual(lost, [], `${lost.length} of ${ROUNDS / 4} rounds lost a signature`);
  });

  it("a legacy signature whose .sig tag answers 404 after each PUT: stops after its attempts and says the tag is not there", async () => {
    const key = await loadSigningKey(opensslKey(dir, "legacy-vanishing", "ed25519").key, () => "");
    const subject = await buildImage({ seed: "legacy-vanishing" });
    await pushImage(reg, "vanishing", "v1", subject);
    const proxy = await startProxy(reg);
    const tag = `sha256-${subject.manifest.digest.hex}.sig`;
    const notFound = '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}';
    proxy.addRule({ method: ["GET", "HEAD"], path: `/manifests/${tag}`, action: { kind: "status", status: 404, body: notFound } });
    try {
      await assert.rejects(signImage(parseLocation(`docker://${proxy.host}/vanishing:v1`), { key, format: "legacy" }), (err: Error) => {
        assert.match(err.message, new RegExp(`${tag}: the signatures were written 6 times but are not there when read back`));
        return true;
      });
      assert.equal(proxy.count("PUT", `/manifests/${tag}`), 6);
    } finally {
      await proxy.stop();
    }
  });
});
