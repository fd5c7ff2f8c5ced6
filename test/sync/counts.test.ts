// Sync's totals agree with its lines (issue 27, item 15): every referrer line is
// counted, a failed repository is in the totals, and a dry run's "failed" counts
// match the failures it lists. The real registry: a signed image (tag-schema
// index and cosign tag) and a repository the source does not have.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { pushSignedImage } from "./artifacts.js";

/** The numbers of the summary line: images/referrers copied, up to date, failed (and to copy), failed repositories. */
function totals(stderr: string): { images: number[]; referrers: number[]; repositories: number } {
  const line = stderr.split("\n").find((l) => /^(Synced|Dry run over) /.test(l))!;
  const nums = (what: string): number[] => [...new RegExp(`${what} ([^;]+);`).exec(line)![1]!.matchAll(/(\d+)/g)].map((m) => Number(m[1]));
  return { images: nums("images"), referrers: nums("referrers"), repositories: Number(/\((\d+) failed\)/.exec(line)?.[1] ?? 0) };
}

describe("sync counters agree with its lines", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let file: string;
  before(async () => {
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    await pushSignedImage(regA, "app", "v1", "counts");
    file = join(makeTempDir("dray-counts-"), "sync.yaml");
    await writeFile(
      file,
      `destination: ${regB.host}/m\nsync:\n  - source: ${regA.host}/app\n  - source: ${regA.host}/nothere\n    tags: [v1]\n`,
    );
  });

  for (const dryRun of [true, false]) {
    it(`${dryRun ? "--dry-run" : "a run"}: referrer lines = referrer totals; failures = the failed counts summed`, async () => {
      const r = await dray(["sync", file, ...(dryRun ? ["--dry-run"] : [])]);
      assert.equal(r.code, 1, r.stderr);
      const t = totals(r.stderr);
      const word = dryRun ? "would copy" : "copied";
      const referrerLines = r.stderr.split("\n").filter((l) => l.startsWith(`${word.padEnd(11)} referrer `));
      // dry run: "N to copy, copied, up to date, failed"; a run: "copied, up to date, failed"
      assert.equal(referrerLines.length, t.referrers[0], r.stderr);
      const failures = Number(/sync incomplete: (\d+) failure/.exec(r.stderr)![1]);
      const failedCount = t.images[t.images.length - 1]! + t.referrers[t.referrers.length - 1]! + t.repositories;
      assert.equal(failedCount, failures, r.stderr);
      assert.equal(t.repositories, 1, "the repository the source lacks");
      if (dryRun) {
        const plan = r.stdout.split("\n").filter((l) => l.startsWith("referrer "));
        assert.equal(plan.length, t.referrers[0], r.stdout);
      }
    });
  }
});
