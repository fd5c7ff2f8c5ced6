// `dray inspect` compared field by field with `skopeo inspect` on the same
// images: single- and multi-platform, Docker and OCI, in the registry and in
// layouts and archives that skopeo itself wrote from that registry.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { inspect, inspectConfig, inspectRaw } from "../../src/inspect/index.js";
import type { ImageSummary, IndexSummary } from "../../src/inspect/index.js";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { parsePlatform, type Platform } from "../../src/oci/platform.js";
import { parseLocation } from "../../src/ref/location.js";
import { buildImage, buildIndex, buildLayer, pushImage, type Built, type BuiltImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { assertSkopeoOk, skopeo, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "../cli/run.js";

const REPO = "inspect/me";

/**
 * An OCI image whose config has none of the optional fields (no created,
 * Labels, Env, docker_version) and whose layer carries annotations: the
 * null-versus-missing cases of skopeo's output.
 */
async function bareImage(): Promise<BuiltImage> {
  const layer = await buildLayer([{ path: "only.txt", content: "bare\n" }], "oci");
  const configDoc = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.diffId.toString()] } };
  const configBytes = Buffer.from(JSON.stringify(configDoc));
  const config = { digest: Digest.of(configBytes), size: configBytes.length, mediaType: MediaType.OciConfig, bytes: configBytes };
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: config.mediaType, digest: config.digest.toString(), size: config.size },
    layers: [
      {
        mediaType: layer.mediaType,
        digest: layer.digest.toString(),
        size: layer.size,
        annotations: { "org.example.z": "1", "org.example.a": "2" },
      },
    ],
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return {
    kind: "image",
    format: "oci",
    platform: { os: "linux", architecture: "amd64" },
    manifest: { bytes, mediaType: MediaType.OciManifest, digest: Digest.of(bytes) },
    config,
    configDoc,
    layers: [layer],
  };
}

/** A Docker image with docker_version and a created time Go re-formats (fraction zeros, +02:00). */
async function dockerImageWithVersion(): Promise<BuiltImage> {
  const base = await buildImage({ format: "docker", seed: "dv", layerCount: 2, labels: { "b.label": "x & <y>", "a.label": "1" } });
  const configDoc = { ...base.configDoc, docker_version: "24.0.7", created: "2024-05-06T07:08:09.120000+02:00" };
  const configBytes = Buffer.from(JSON.stringify(configDoc));
  const config = { ...base.config, bytes: configBytes, size: configBytes.length, digest: Digest.of(configBytes) };
  const doc = JSON.parse(base.manifest.bytes.toString()) as { config: { digest: string; size: number } };
  doc.config = { ...doc.config, digest: config.digest.toString(), size: config.size };
  const bytes = Buffer.from(JSON.stringify(doc, null, 3)); // odd indentation: --raw must keep it byte for byte
  return { ...base, configDoc, config, manifest: { bytes, mediaType: base.manifest.mediaType, digest: Digest.of(bytes) } };
}

interface Case {
  tag: string;
  built: Built;
}

/** Fields dray prints that skopeo 1.9 does not: LayersData (newer skopeo has it; Debian's 1.9.3 not) and Variant. */
const DRAY_ONLY = new Set(["LayersData", "Variant"]);

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function assertSameAsSkopeo(ours: ImageSummary, theirs: Record<string, unknown>, label: string, skip: readonly string[] = []): void {
  for (const [field, value] of Object.entries(theirs)) {
    if (skip.includes(field)) continue;
    assert.deepEqual((ours as unknown as Record<string, unknown>)[field], value, `${label}: field ${field}`);
  }
  for (const field of Object.keys(ours)) {
    assert.ok(field in theirs || DRAY_ONLY.has(field), `${label}: dray prints ${field}, skopeo does not`);
  }
  // Same order of the common fields, so the two outputs diff line by line.
  const common = Object.keys(ours).filter((f) => f in theirs);
  assert.deepEqual(
    common,
    Object.keys(theirs).filter((f) => common.includes(f)),
    `${label}: field order`,
  );
}

/** LayersData against the manifest itself (skopeo 1.9.3 does not print it). */
function assertLayersData(ours: ImageSummary, manifestBytes: Buffer, label: string): void {
  const m = JSON.parse(manifestBytes.toString()) as {
    layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
  };
  assert.deepEqual(
    ours.LayersData,
    m.layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: l.annotations ?? null })),
    `${label}: LayersData`,
  );
}

function overrideArgs(p: Platform): string[] {
  return ["--override-os", p.os, "--override-arch", p.architecture, ...(p.variant ? ["--override-variant", p.variant] : [])];
}

describe("dray inspect versus skopeo inspect", () => {
  let reg: RegistryHandle;
  let cases: Case[];
  let dir: string;
  const reg$ = (tag: string): string => `docker://${reg.host}/${REPO}:${tag}`;

  before(async () => {
    reg = await startRegistry();
    dir = makeTempDir("dray-inspect-");
    cases = [
      { tag: "docker-image", built: await dockerImageWithVersion() },
      { tag: "oci-image", built: await buildImage({ format: "oci", platform: "linux/arm/v7", seed: "oi", labels: { x: "y" } }) },
      { tag: "bare", built: await bareImage() },
      { tag: "docker-index", built: await buildIndex({ format: "docker", seed: "di" }) },
      {
        tag: "oci-index",
        built: await buildIndex({ format: "oci", seed: "oi2", annotations: { "org.opencontainers.image.title": "multi" } }),
      },
    ];
    for (const c of cases) await pushImage({ url: reg.url }, REPO, c.tag, c.built);
    // Layouts and archives written by skopeo from that registry.
    for (const c of cases) {
      const all = c.built.kind === "index" ? ["--all"] : [];
      assertSkopeoOk(await skopeoCopy(reg$(c.tag), `oci:${join(dir, "layout")}:${c.tag}`, all));
      assertSkopeoOk(await skopeoCopy(reg$(c.tag), `oci-archive:${join(dir, `${c.tag}.tar`)}:${c.tag}`, all));
      if (c.built.kind === "image")
        assertSkopeoOk(await skopeoCopy(reg$(c.tag), `docker-archive:${join(dir, `${c.tag}.docker.tar`)}:example.test/${REPO}:${c.tag}`));
    }
  });

  function locations(c: Case): Array<{ loc: string; skip: string[] }> {
    const out = [
      { loc: reg$(c.tag), skip: [] as string[] },
      { loc: `oci:${join(dir, "layout")}:${c.tag}`, skip: [] },
      { loc: `oci-archive:${join(dir, `${c.tag}.tar`)}:${c.tag}`, skip: [] },
    ];
    // docker-archive holds no manifest: each tool synthesises one, so the digests are each tool's own.
    if (c.built.kind === "image")
      out.push({ loc: `docker-archive:${join(dir, `${c.tag}.docker.tar`)}:example.test/${REPO}:${c.tag}`, skip: ["Digest"] });
    return out;
  }

  it("single images: every skopeo field equal, in the same order, in the registry, layouts and archives", async () => {
    for (const c of cases.filter((x) => x.built.kind === "image")) {
      for (const { loc, skip } of locations(c)) {
        const ours = (await inspect(parseLocation(loc))) as ImageSummary;
        const theirs = await skopeoInspect(loc);
        assertSameAsSkopeo(ours, theirs, loc, skip);
        assertLayersData(ours, (await inspectRaw(parseLocation(loc))).bytes, loc);
      }
    }
  });

  it('the null-versus-missing cases match skopeo: no Labels/Env/Created is null, no docker_version is "", layer annotations sorted', async () => {
    const ours = (await inspect(parseLocation(reg$("bare")))) as ImageSummary;
    assert.equal(ours.Created, null);
    assert.equal(ours.Labels, null);
    assert.equal(ours.Env, null);
    assert.equal(ours.DockerVersion, "");
    assert.ok(!("Variant" in ours));
    assert.deepEqual(Object.keys(ours.LayersData[0]!.Annotations!), ["org.example.a", "org.example.z"]);
    const docker = (await inspect(parseLocation(reg$("docker-image")))) as ImageSummary;
    assert.equal(docker.DockerVersion, "24.0.7");
    assert.equal(docker.Created, "2024-05-06T07:08:09.12+02:00");
    const arm = (await inspect(parseLocation(reg$("oci-image")))) as ImageSummary;
    assert.equal(arm.Variant, "v7");
    // A layout location has no docker name: no Name field at all, as skopeo.
    const inLayout = (await inspect(parseLocation(`oci:${join(dir, "layout")}:oci-image`))) as ImageSummary;
    assert.ok(!("Name" in inLayout));
    assert.equal(docker.Name, `${reg.host}/${REPO}`);
  });

  it("the README's Variant templates work on an image without a variant; an unknown field is still exit 2 (issue 27, item 9)", async () => {
    const plain = reg$("bare"); // amd64, no variant: most images
    const cases: Array<[string, string]> = [
      ["{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", "linux/amd64"],
      ["{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}", "linux/amd64"],
      ['{{if and (eq .Os "linux") (not .Variant)}}plain{{end}}', "plain"],
      ["[{{.Variant}}][{{.Name}}]", `[][${reg.host}/${REPO}]`],
    ];
    for (const [template, want] of cases) {
      const r = await drayOk(["inspect", plain, "--format", template]);
      assert.equal(r.stdout, `${want}\n`, template);
    }
    const arm = await drayOk(["inspect", reg$("oci-image"), "--format", "{{with .Variant}}{{.}}{{end}}"]);
    assert.equal(arm.stdout, "v7\n");
    const typo = await dray(["inspect", plain, "--format", "{{.Varient}}"]);
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, /no field "Varient"/);
  });

  it("RepoTags lists the repository's tags (registry only), and --no-tags leaves it empty", async () => {
    const ours = (await inspect(parseLocation(reg$("oci-image")))) as ImageSummary;
    assert.deepEqual([...ours.RepoTags].sort(), cases.map((c) => c.tag).sort());
    const none = (await inspect(parseLocation(reg$("oci-image")), { tags: false })) as ImageSummary;
    assert.deepEqual(none.RepoTags, []);
  });

  it("indexes: summarised as an index (digest, media type, platforms, child digests) matching skopeo --raw", async () => {
    for (const c of cases.filter((x) => x.built.kind === "index")) {
      for (const { loc } of locations(c)) {
        const ours = (await inspect(parseLocation(loc))) as IndexSummary;
        const raw = await skopeoInspectRaw(loc);
        const doc = JSON.parse(raw.toString()) as {
          mediaType: string;
          manifests: Array<{ digest: string; mediaType: string; size: number; platform: Platform }>;
        };
        assert.equal(ours.Digest, sha256(raw), `${loc}: Digest`);
        assert.equal(ours.MediaType, doc.mediaType);
        assert.deepEqual(
          ours.Manifests.map((m) => [m.Digest, m.MediaType, m.Size, m.Platform]),
          doc.manifests.map((m) => [
            m.digest,
            m.mediaType,
            m.size,
            { Os: m.platform.os, Architecture: m.platform.architecture, ...(m.platform.variant ? { Variant: m.platform.variant } : {}) },
          ]),
          `${loc}: Manifests`,
        );
        assert.ok(!("Architecture" in ours));
      }
    }
  });

  it("--platform picks one image of an index; every field equals skopeo --override-os/arch/variant", async () => {
    for (const c of cases.filter((x) => x.built.kind === "index")) {
      for (const { loc } of locations(c)) {
        for (const p of ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"].map(parsePlatform)) {
          const ours = (await inspect(parseLocation(loc), { platform: p })) as ImageSummary;
          const tls = loc.startsWith("docker://") ? ["--tls-verify=false"] : [];
          const r = assertSkopeoOk(await skopeo([...overrideArgs(p), "inspect", ...tls, loc]));
          assertSameAsSkopeo(ours, JSON.parse(r.stdout) as Record<string, unknown>, `${loc} ${p.architecture}`);
          assert.equal(ours.Architecture, p.architecture);
        }
      }
    }
  });

  it("--config equals skopeo --config; --raw is the stored bytes (sha256 = digest)", async () => {
    for (const c of cases) {
      const loc = reg$(c.tag);
      const raw = await inspectRaw(parseLocation(loc));
      assert.ok(raw.bytes.equals(await skopeoInspectRaw(loc)), `${loc}: raw bytes`);
      assert.equal(sha256(raw.bytes), c.built.manifest.digest.toString());
      if (c.built.kind === "image") {
        // skopeo re-marshals through Go structs (an absent "config" becomes {}); dray prints the stored document.
        const ours = await inspectConfig(parseLocation(loc));
        const theirs = await skopeoInspect(loc, { config: true });
        assert.deepEqual(ours, c.built.configDoc);
        assert.deepEqual(ours.architecture, theirs.architecture);
        assert.deepEqual(ours.config ?? {}, theirs.config);
        assert.deepEqual(ours.rootfs, theirs.rootfs);
      }
    }
  });

  it("through the CLI: `dray inspect --raw X | sha256sum` is the digest, --format templates, exit codes", async () => {
    const loc = reg$("docker-index");
    const raw = await drayOk(["inspect", "--raw", loc]);
    const digest = await drayOk(["digest", loc]);
    assert.equal(sha256(raw.stdoutBytes), digest.stdout.trim());
    const tpl = await drayOk([
      "inspect",
      "--platform",
      "linux/arm64/v8",
      "--format",
      "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}} {{len .Layers}}",
      loc,
    ]);
    assert.equal(tpl.stdout, "linux/arm64/v8 1\n");
    const json = await drayOk(["inspect", "--format", "json", reg$("oci-image")]);
    assert.equal((JSON.parse(json.stdout) as ImageSummary).Architecture, "arm");
    const layers = await drayOk(["inspect", "-f", "{{range .LayersData}}{{.Digest}} {{.Size}}\n{{end}}", reg$("bare")]);
    const bare = cases.find((c) => c.tag === "bare")!.built as BuiltImage;
    assert.equal(layers.stdout, `${bare.layers[0]!.digest} ${bare.layers[0]!.size}\n`);
    const { dray } = await import("../cli/run.js");
    const missing = await dray(["inspect", reg$("no-such-tag")]);
    assert.equal(missing.code, 3, missing.stderr);
    const badPlatform = await dray(["inspect", "--platform", "plan9/mips", loc]);
    assert.equal(badPlatform.code, 3);
    assert.match(badPlatform.stderr, /linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/);
    const badTemplate = await dray(["inspect", "--format", "{{.Digest", loc]);
    assert.equal(badTemplate.code, 2);
  });
});
