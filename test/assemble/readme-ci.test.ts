// The README's CI script, run as written: two single-architecture images
// (one in a registry, one in an oci-archive) joined with `dray index create`,
// labelled with `dray mutate`, checked with `dray inspect`; only REG points
// at a real registry on loopback.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { drayOk } from "../cli/run.js";
import { writeOciLayout } from "../helpers/fixtures.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".js") ? "../../../" : "../../", import.meta.url));

/** The sh block under the README's "In CI" heading. */
async function readmeScript(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const m = /### In CI: build per architecture, join, stamp, check\n\n```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, "the README has the CI script");
  return m[1]!;
}

describe("the README's CI script", () => {
  let registry: RegistryHandle;
  let amd64: BuiltImage;
  let arm64: BuiltImage;
  let work: string;

  before(async () => {
    requireTool("docker-registry");
    registry = await startRegistry();
    work = makeTempDir("dray-readme-ci-");
    amd64 = await buildImage({ platform: "linux/amd64", seed: "ci-amd64" });
    arm64 = await buildImage({ platform: "linux/arm64/v8", seed: "ci-arm64" });
    await pushImage({ url: registry.url }, "team/app", "1.4.0-amd64", amd64);
    const layout = join(work, "arm64-layout");
    await writeOciLayout(layout, arm64, "1.4.0");
    await drayOk(["copy", "-q", `oci:${layout}:1.4.0`, `oci-archive:${join(work, "app-arm64.tar")}:1.4.0`]);
    // `dray` on PATH as a user has it; a git repository for the commit time and revision.
    await writeFile(join(work, "dray"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin", "dray.cjs")}" "$@"\n`);
    await chmod(join(work, "dray"), 0o755);
    const git = (...args: string[]): Promise<unknown> =>
      run("git", args, {
        cwd: work,
        env: { ...process.env, GIT_AUTHOR_DATE: "@1717000000 +0000", GIT_COMMITTER_DATE: "@1717000000 +0000" },
      });
    await git("init", "-q");
    await git("-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "--allow-empty", "-m", "release");
  });

  after(async () => {
    await registry?.stop();
  });

  it("runs as written and leaves a labelled two-platform index", async () => {
    const script = join(work, "ci.sh");
    await writeFile(script, await readmeScript());
    const reg = `${registry.host}/team/app`;
    const { stdout } = await run("sh", ["-eu", script], {
      cwd: work,
      env: { ...process.env, PATH: `${work}:${process.env.PATH}`, REG: reg, CI_PROJECT_URL: "https://example.com/team/app", NO_COLOR: "1" },
    });
    // index create's digest, then inspect's template: one line per platform with the child's (new) digest.
    const lines = stdout.trim().split("\n");
    assert.match(lines[0]!, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(" ")[0]),
      ["linux/amd64", "linux/arm64"],
    );
    const mutate = JSON.parse(await readFile(join(work, "mutate.json"), "utf8")) as {
      Manifests: Array<{ From: string; To: string }>;
      Digest: string;
    };
    assert.deepEqual(
      mutate.Manifests.slice(0, 2).map((m) => m.From),
      [amd64.manifest.digest.toString(), arm64.manifest.digest.toString()],
      "the index was built from the two images, digests kept",
    );
    const config = await skopeo(["--override-arch", "arm64", "inspect", "--config", "--tls-verify=false", `docker://${reg}:1.4.0`]);
    const doc = JSON.parse(config.stdout) as { created: string; config: { Labels: Record<string, string> } };
    assert.equal(doc.created, "2024-05-29T16:26:40Z", "--created from the commit time");
    assert.equal(doc.config.Labels["org.opencontainers.image.version"], "1.4.0");
    assert.match(doc.config.Labels["org.opencontainers.image.revision"] ?? "", /^[0-9a-f]{40}$/);
    const raw = JSON.parse((await drayOk(["inspect", "--raw", `docker://${reg}:1.4.0`])).stdout) as { annotations: Record<string, string> };
    assert.equal(raw.annotations["org.opencontainers.image.source"], "https://example.com/team/app");
  });
});
