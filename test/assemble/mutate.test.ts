// `dray mutate` against the real registry, layouts and archives: configs and
// annotations rewritten on every platform (or those chosen), layers kept,
// old -> new digests printed; read back by skopeo and podman.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, buildIndex, pushImage, writeOciLayout, type BuiltIndex } from "../helpers/fixtures.js";
import { startPodman, type Podman } from "../helpers/podman.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "../cli/run.js";

interface Config {
  created: string;
  config: {
    Labels?: Record<string, string>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    User?: string;
    WorkingDir?: string;
  };
}
interface Doc {
  manifests: Array<{ digest: string; platform?: { architecture: string } }>;
  layers: Array<{ digest: string }>;
  annotations?: Record<string, string>;
}

async function configOf(loc: string, arch: string): Promise<Config> {
  const r = await skopeo(["--override-arch", arch, "inspect", "--config", "--tls-verify=false", loc]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Config;
}

describe("dray mutate", () => {
  let registry: RegistryHandle;
  let podman: Podman;
  let dir: string;
  let built: BuiltIndex;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    registry = await startRegistry();
    podman = startPodman();
    dir = makeTempDir("dray-mutate-");
    built = await buildIndex({ platforms: ["linux/amd64", "linux/arm64/v8"], seed: "mutate", labels: { keep: "1", drop: "x" } });
    await pushImage({ url: registry.url }, "app/web", "1", built);
    await writeOciLayout(join(dir, "single"), await buildImage({ seed: "mutate-single", labels: { drop: "x" } }), "1");
  });

  after(async () => {
    await podman?.remove();
    await registry?.stop();
  });

  it("rewrites every platform of a registry index in place: config fields set, layers kept, old -> new printed; podman pulls it", async () => {
    const loc = `docker://${registry.host}/app/web:1`;
    const r = await drayOk([
      "mutate",
      loc,
      "--label",
      "org.opencontainers.image.version=1.4",
      "--label",
      "drop-",
      "--env",
      "MODE=prod",
      "--entrypoint",
      '["/bin/app","--serve"]',
      "--cmd",
      "--port 80",
      "--user",
      "1000:1000",
      "--workdir",
      "/srv",
      "--created",
      "@1700000000",
      "--format",
      "json",
    ]);
    const out = JSON.parse(r.stdout) as {
      Digest: string;
      PreviousDigest: string;
      Manifests: Array<{ Platform: string; From: string; To: string }>;
    };
    assert.equal(out.PreviousDigest, built.manifest.digest.toString());
    assert.deepEqual(
      out.Manifests.map((m) => [m.Platform, m.From]),
      [
        ["linux/amd64", built.images[0]!.manifest.digest.toString()],
        ["linux/arm64/v8", built.images[1]!.manifest.digest.toString()],
        ["index", built.manifest.digest.toString()],
      ],
    );
    for (const m of out.Manifests) assert.match(r.stderr, new RegExp(`${m.From} -> ${m.To}`));
    assert.match(r.stderr, /referrers of the old digests .* not attached/);
    // The tag moved to the new index (pushed after its children: the registry would refuse it otherwise).
    const index = JSON.parse((await skopeoInspectRaw(loc)).toString()) as Doc;
    assert.equal((await drayOk(["digest", loc])).stdout.trim(), out.Digest);
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      out.Manifests.slice(0, 2).map((m) => m.To),
    );
    for (const [i, arch] of [
      [0, "amd64"],
      [1, "arm64"],
    ] as const) {
      const config = await configOf(loc, arch);
      assert.equal(config.created, "2023-11-14T22:13:20Z");
      assert.deepEqual(config.config.Labels, {
        "org.example.seed": `mutate/${arch === "amd64" ? "linux/amd64" : "linux/arm64/v8"}`,
        keep: "1",
        "org.opencontainers.image.version": "1.4",
      });
      assert.ok(config.config.Env?.includes("MODE=prod"));
      assert.deepEqual(config.config.Entrypoint, ["/bin/app", "--serve"]);
      assert.deepEqual(config.config.Cmd, ["--port", "80"]);
      assert.equal(config.config.User, "1000:1000");
      assert.equal(config.config.WorkingDir, "/srv");
      const manifest = JSON.parse(
        (await skopeoInspectRaw(`docker://${registry.host}/app/web@${index.manifests[i]!.digest}`)).toString(),
      ) as Doc;
      assert.deepEqual(
        manifest.layers.map((l) => l.digest),
        built.images[i]!.layers.map((l) => l.digest.toString()),
        "layers untouched",
      );
    }
    await podman.run(["pull", "--tls-verify=false", "--arch", "amd64", "-q", `${registry.host}/app/web:1`]);
    const seen = await podman.inspect(`${registry.host}/app/web:1`);
    assert.equal(seen.Labels?.["org.opencontainers.image.version"], "1.4");
    assert.equal(seen.Labels?.drop, undefined);
  });

  it("--platform narrows; index:/manifest: annotations; SOURCE_DATE_EPOCH; into an oci-archive podman loads", async () => {
    const src = `docker://${registry.host}/app/web@${built.manifest.digest}`;
    const dst = `oci-archive:${join(dir, "arm.tar")}:1`;
    const r = await drayOk(
      [
        "mutate",
        src,
        dst,
        "--platform",
        "linux/arm64",
        "--label",
        "arm=yes",
        "--annotation",
        "index:org.example.index=i",
        "--annotation",
        "manifest:org.example.m=m",
        "--format",
        "json",
      ],
      { env: { SOURCE_DATE_EPOCH: "86400" } },
    );
    const out = JSON.parse(r.stdout) as { Manifests: Array<{ Platform: string; From: string; To: string }> };
    assert.deepEqual(
      out.Manifests.map((m) => m.Platform),
      ["linux/arm64/v8", "index"],
      "only the platform asked for is rewritten",
    );
    const index = JSON.parse((await skopeoInspectRaw(dst)).toString()) as Doc;
    assert.equal(index.manifests[0]!.digest, built.images[0]!.manifest.digest.toString(), "amd64 kept its digest");
    assert.equal(index.manifests[1]!.digest, out.Manifests[0]!.To);
    assert.deepEqual(index.annotations, { "org.example.index": "i" });
    const arm = JSON.parse((await drayOk(["inspect", "--raw", "--platform", "linux/arm64", dst])).stdout) as Doc;
    assert.deepEqual(arm.annotations, { "org.example.m": "m" });
    const config = await configOf(dst, "arm64");
    assert.equal(config.created, "1970-01-02T00:00:00Z");
    assert.equal(config.config.Labels?.arm, "yes");

    // A single image rewritten in place in its layout, then loaded by podman.
    const single = `oci:${join(dir, "single")}:1`;
    await drayOk(["mutate", "-q", single, "--label", "stamped=yes", "--label", "drop-", "--annotation", "org.example.a=b"]);
    const manifest = JSON.parse((await skopeoInspectRaw(single)).toString()) as Doc;
    assert.deepEqual(manifest.annotations, { "org.example.a": "b" });
    await drayOk(["copy", "-q", single, `oci-archive:${join(dir, "single.tar")}:1`]);
    await podman.run(["load", "-q", "-i", join(dir, "single.tar")]);
    const images = JSON.parse(await podman.run(["images", "--format", "json"])) as Array<{ Id: string; Labels: Record<string, string> }>;
    assert.ok(
      images.some((i) => i.Labels?.stamped === "yes" && i.Labels.drop === undefined),
      JSON.stringify(images),
    );
  });

  it("refuses before writing: nothing to change, index: on a single image, a bad time, no tag to write back to", async () => {
    const single = `oci:${join(dir, "single")}:1`;
    for (const args of [
      ["mutate", single],
      ["mutate", single, "--annotation", "index:a=b"],
      ["mutate", single, "--created", "yesterday"],
      ["mutate", `docker://${registry.host}/app/web@${built.manifest.digest}`, "--label", "a=b"],
      ["mutate", single, "--entrypoint", "[1]"],
    ]) {
      const r = await dray(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^dray: /);
    }
    const missing = await dray(["mutate", `oci:${join(dir, "single")}:nope`, "--label", "a=b"]);
    assert.equal(missing.code, 3, missing.stderr);
  });

  it("--label KEY- of a label an image without labels lacks changes nothing: the digest stays", async () => {
    await mkdir(join(dir, "empty-tree"), { recursive: true });
    const plain = `oci:${join(dir, "plain")}:1`;
    const made = await drayOk(["append", "scratch", "--platform", "linux/amd64", "--layer", join(dir, "empty-tree"), "-t", plain]);
    const r = await drayOk(["mutate", plain, `oci:${join(dir, "plain-mutated")}:1`, "--label", "not.there-"]);
    assert.equal(r.stdout, made.stdout);
  });
});
