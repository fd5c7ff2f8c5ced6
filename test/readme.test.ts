// The README's examples, run from the README itself so they cannot drift from
// the tool (issue 28): every `dray …` line of its ```sh blocks runs in bash, with
// the remote names it uses mapped onto a real registry on loopback and local
// folders; a line that cannot run here is listed in NOT_RUN with the reason, and
// a new example that is neither run nor listed fails the test.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { buildImage, buildIndex, pushImage, writeOciLayout } from "./helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "./helpers/registry.js";
import { makeTempDir } from "./helpers/tmp.js";
import { pushSignedImage } from "./sync/artifacts.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? ".." : "../..", import.meta.url));
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The command lines of the README's ```sh blocks, comments dropped. */
function shellExamples(text: string): string[] {
  const out: string[] = [];
  for (const block of text.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    for (const line of block[1]!.split("\n")) {
      const cmd = line.replace(/\s+#\s.*$/, "").trim();
      if (cmd !== "") out.push(cmd);
    }
  }
  return out;
}

/** Examples that are not run here, and why. */
const NOT_RUN: Record<string, string> = {
  "dray sign registry.example.com/team/app:1.2 --key mirror.key":
    "needs a signing key and an image to sign: test/signature/sign.test.ts and resign.test.ts run these commands against the real registry",
  "COSIGN_PASSWORD=… dray sign registry.example.com/team/app:1.2 --key cosign.key --format both":
    "needs a signing key and an image to sign: test/signature/sign.test.ts and resign.test.ts run these commands against the real registry",
  "dray sign oci:./layout:1.2 --key mirror.key --annotation build=4711":
    "needs a signing key and an image to sign: test/signature/sign.test.ts and resign.test.ts run these commands against the real registry",
  "dray sync ghcr.io/org mirror.local/org --no-referrers --sign-key /etc/keys/mirror.key":
    "needs a signing key and an image to sign: test/signature/sign.test.ts and resign.test.ts run these commands against the real registry",
  "dray verify mirror.local/org/app:1.2 --key /etc/keys/mirror.pub":
    "needs a signing key and an image to sign: test/signature/sign.test.ts and resign.test.ts run these commands against the real registry",
  "npm ci && npm run demo": "installs; `npm run demo` runs below on its own",
  "npm test": "the suite itself",
  'dray completion zsh > "${fpath[1]}/_dray"': "writes into zsh's function path (the scripts are checked in completion.test.ts)",
  "dray completion fish > ~/.config/fish/completions/dray.fish": "writes into the user's fish config (checked in completion.test.ts)",
  "dray verify registry.example.com/team/app:1.2 --key release.pub":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "dray verify ghcr.io/org/app:1.2 --trusted-root trusted_root.json \\":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "--certificate-identity-regexp '^https://github\\.com/org/app/' \\":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "--certificate-oidc-issuer https://token.actions.githubusercontent.com":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "dray verify mirror.local/app:1.2 --key release.pub --signed-identity ghcr.io/org/app":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "dray verify registry.example.com/app:1.2 --policy /etc/containers/policy.json":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "dray verify oci:./layout:1.2 --notation-trust-store ./truststore --format json":
    "needs signing keys, a trusted root and signed images: test/signature/ runs these commands against real signatures",
  "# two single-platform images built on their own runners: one pushed, one saved as an oci-archive":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray index create registry.example.com/app:1.4 \\":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "registry.example.com/app:1.4-amd64 oci-archive:app-arm64.tar:1.4 \\":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "--annotation org.opencontainers.image.source=https://github.com/org/app":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray index append registry.example.com/app:1.4 oci:riscv-build:1.4":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray index remove registry.example.com/app:1.4 --platform linux/riscv64":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray index create --dry-run oci:out:1 img-a img-b > index.json":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray mutate registry.example.com/app:1.4 --label org.opencontainers.image.version=1.4 --label maintainer- \\":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  '--env MODE=prod --created "@$SOURCE_DATE_EPOCH" --annotation index,manifest:org.opencontainers.image.revision=$GIT_SHA':
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "# linux/amd64      sha256:6685\u2026 -> sha256:5fbd\u2026":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "# linux/arm64/v8   sha256:8ce4\u2026 -> sha256:469e\u2026":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "# index            sha256:9f33\u2026 -> sha256:8a05\u2026":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "# dray: note: referrers of the old digests (signatures, SBOMs, attestations) do not refer to the new ones and were not attached":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray append registry.example.com/base:3 --layer ./dist --layer extra.tar.gz -t registry.example.com/app:1.4":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "dray append scratch --platform linux/arm64 --layer ./rootfs --compress zstd -t oci:out:1":
    "needs per-architecture CI builds: test/assemble/ runs index, mutate and append against the real registry",
  "#!/bin/sh -eu": "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  "# amd64 was built and pushed by one runner; arm64 by another, which saved it as an oci-archive artifact.":
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  "REG=${REG:-registry.example.com/team/app}": "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  "VERSION=${VERSION:-1.4.0}": "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  'dray index create "$REG:$VERSION" "$REG:$VERSION-amd64" "oci-archive:app-arm64.tar:$VERSION" \\':
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  '--annotation org.opencontainers.image.source="$CI_PROJECT_URL"':
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  'dray mutate "$REG:$VERSION" --label org.opencontainers.image.version="$VERSION" \\':
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  '--label org.opencontainers.image.revision="$(git rev-parse HEAD)" --created "@$SOURCE_DATE_EPOCH" --format json > mutate.json':
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  'dray inspect "$REG:$VERSION" --format \'{{range .Manifests}}{{.Platform.Os}}/{{.Platform.Architecture}} {{.Digest}}{{"\\n"}}{{end}}\'':
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
  'test "$(dray inspect --platform linux/arm64 "$REG:$VERSION" --format \'{{index .Labels "org.opencontainers.image.version"}}\')" = "$VERSION"':
    "the README's CI script: test/assemble/readme-ci.test.ts extracts and runs it whole",
};

describe("the README's examples run as written", () => {
  let reg: RegistryHandle;
  let cwd: string;
  let bin: string;

  before(async () => {
    reg = await startRegistry();
    cwd = makeTempDir("dray-readme-");
    bin = makeTempDir("dray-readme-bin-");
    writeFileSync(join(bin, "dray"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin", "dray.cjs")}" "$@"\n`);
    chmodSync(join(bin, "dray"), 0o755);
    const target = { url: reg.url };
    const alpine = await buildImage({ seed: "readme-alpine", layerFiles: [[{ path: "etc/os-release", content: "NAME=Alpine Linux\n" }]] });
    await pushImage(target, "library/alpine", "latest", alpine);
    await pushSignedImage(target, "org/app", "1.0", "readme");
    for (const tag of ["1.1.0", "1.2.0", "1.5.0", "2.0.0"])
      await pushImage(target, "team/app", tag, await buildImage({ seed: `readme-${tag}` }));
    await writeOciLayout(join(cwd, "dir"), await buildIndex({ seed: "readme-dir", platforms: ["linux/amd64", "linux/arm64"] }), "app");
    // What the `dray attach` examples attach.
    writeFileSync(join(cwd, "sbom.spdx.json"), '{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app"}\n');
    writeFileSync(join(cwd, "scan.json"), '{"findings":[]}\n');
    writeFileSync(
      join(cwd, "sync.yaml"),
      `destination: ${reg.host}/mirror-file\nsync:\n  - source: ${reg.host}/team/app\n    tags: { semver: ">=1.2" }\n`,
    );
  });

  /** README names → what they are here. */
  const localise = (cmd: string): string =>
    cmd
      .replace(/\b(registry\.example\.com|registry\.internal|mirror\.local)\b/g, reg.host)
      .replace(/\bghcr\.io\/org\/app:1\.0\b/g, `${reg.host}/org/app:1.0`)
      .replace(/(?<=\s)alpine(?=\s|$)/g, `${reg.host}/library/alpine`)
      .replace(/oci:\/mnt\/usb/g, "oci:usb");

  it("every example is run or listed as not run", () => {
    const examples = shellExamples(README);
    assert.ok(examples.length >= 15, `found ${examples.length} examples`);
    for (const name of Object.keys(NOT_RUN))
      assert.ok(examples.includes(name), `NOT_RUN names an example the README no longer has: ${name}`);
  });

  it("each runs and exits 0 (in README order: the sync examples build on each other)", () => {
    for (const example of shellExamples(README)) {
      if (example in NOT_RUN) continue;
      const cmd = localise(example);
      const r = spawnSync("bash", ["-o", "pipefail", "-c", cmd], {
        cwd,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, NO_COLOR: "1", HOME: cwd },
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `README: ${example}\nran: ${cmd}\n${r.stderr}`);
    }
  });

  it("npm run demo", () => {
    // The suite built dist/ already: the demo must not rebuild it under the feet of the tests running beside it.
    const builtAt = statSync(join(ROOT, "dist", "src", "cli", "startup", "switches.cjs")).mtimeMs;
    const r = spawnSync("npm", ["run", "--silent", "demo"], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: cwd },
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"Architecture": "/);
    assert.match(r.stdout, /the tarball: .*\/hello\.tar/);
    assert.equal(statSync(join(ROOT, "dist", "src", "cli", "startup", "switches.cjs")).mtimeMs, builtAt, "npm run demo rebuilt dist/");
  });
});
