// `npm pack` as a release script or CI job runs it (Install, way 2): prepack builds, and
// stdout holds only npm's answer, so `npm pack --json | jq` and `npm install -g ./$(npm pack)`
// work; the tarball ships the built CLI and library, no tests, no sources inside its maps.
// Packed from a copy of the repository, so the build it runs never rewrites the dist/
// that other test files are running from.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { makeTempDir } from "../helpers/tmp.js";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../.." : "../../..", import.meta.url));

interface PackEntry {
  filename: string;
  size: number;
  files: { path: string; size: number }[];
}

describe("npm pack", () => {
  it("prints only its JSON on stdout, with the built CLI and no tests or embedded sources", () => {
    const copy = makeTempDir("dray-pack-");
    for (const entry of [
      "package.json",
      "tsconfig.json",
      "README.md",
      "LICENSE",
      "bin",
      "src",
      "test",
      "bench",
      "scripts",
      "completions",
      "examples",
    ]) {
      cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
    const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--loglevel=error"], {
      cwd: copy,
      encoding: "utf8",
      env: { ...process.env, npm_config_update_notifier: "false" },
      timeout: 180_000,
    });
    assert.equal(r.status, 0, r.stderr);
    let packed: PackEntry[];
    try {
      packed = JSON.parse(r.stdout) as PackEntry[];
    } catch {
      assert.fail(`npm pack --json printed more than its JSON on stdout:\n${r.stdout.slice(0, 300)}`);
    }
    const [pkg] = packed;
    assert.equal(
      pkg?.filename,
      `dray-${(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version}.tgz`,
    );
    const paths = pkg.files.map((f) => f.path);
    for (const needed of [
      "LICENSE",
      "bin/dray.cjs",
      "dist/dray.cjs",
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/cli/startup/launch.cjs",
    ]) {
      assert.ok(paths.includes(needed), `${needed} is not in the package`);
    }
    assert.deepEqual(
      paths.filter((p) => /(^|\/)test\/|\.test\.|^src\/|^bench\/|^scripts\/|(?<!\.d)\.[cm]?ts$/.test(p)),
      [],
      "tests, sources or build scripts in the package",
    );
    assert.ok(pkg.size < 2 * 1024 * 1024, `package of ${pkg.size} bytes`);
    // The maps point at src/ (not shipped) and must not carry it inside them.
    const built = join(copy, "dist", "src", "index.js.map");
    assert.doesNotMatch(readFileSync(built, "utf8"), /sourcesContent/);
  });
});
