import { InvalidArgumentError, Option, type Command } from "commander";
import type { CliContext } from "../context.js";
import { addSignOptions, addTransportOptions, addTrustOptions, collect, parseCount } from "../options.js";
import type { SyncFlags } from "./sync-run.js";

function parseRate(text: string): number {
  const n = Number(text);
  if (!/^\d*\.?\d+$/.test(text.trim()) || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("--rate expects a number of requests per second above 0");
  return n;
}

/** `dray sync`: mirror many repositories and tags (and their referrers), from a YAML file or SRC DST. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("sync")
    .description(
      "mirror repositories and their tags (with signatures and attestations) between registries, OCI layouts and oci-archive files",
    )
    .argument(
      "[src]",
      "source: a repository (HOST/REPO[:TAG]), a registry (HOST[:PORT]), oci:DIR, or a mirror archive oci-archive:FILE; or a sync YAML file",
    )
    .argument(
      "[dst]",
      "destination: the repository (or oci:DIR) for a repository; a prefix (HOST[/PREFIX], oci:DIR) for several; oci-archive:FILE for a whole mirror in one file",
    )
    .option("--file <sync.yaml>", "what to mirror, from a YAML file (see the README's Sync section)")
    .option("--dest <location>", "override every rule's destination prefix (e.g. oci:/mnt/usb for an air-gapped transfer)")
    .option("--tag <tag>", "take this tag (repeatable)", collect)
    .option("--tag-regex <regex>", "take the tags this regular expression matches")
    .option("--semver <range>", "take the tags inside this semver range (e.g. '>=1.2 <2')")
    .option("--newest <n>", "of the tags taken, only the N highest versions", parseCount("--newest", 1))
    .option("--exclude <regex>", "never take the tags this regular expression matches (repeatable; wins over every other filter)", collect)
    .option("--platform <os/arch[/variant]>", "copy only this platform of an index (repeatable)", collect)
    .option("--skip-existing", "leave alone the tags the destination already has, without asking the source about them")
    .option("--prune", "delete destination tags the source no longer has (after a clean sync of their repository)")
    .option("--shard <K/N>", "take only shard K of N (a stable split of the images, for N runners at once)")
    .option("--rate <R>", "at most R requests per second to each registry (a YAML registry's requests-per-second, for all)", parseRate)
    .option(
      "--registry-jobs <C>",
      "at most C requests in flight to each registry (a YAML registry's concurrency, for all)",
      parseCount("--registry-jobs", 1),
    )
    .option("--no-referrers", "leave signatures, attestations and SBOMs behind (copied by default)")
    .option("-j, --jobs <n>", "repositories and images in flight at once (default 4)", parseCount("--jobs", 1))
    .option("--manifest-format <oci|docker>", "convert every image's manifests to this format (new digests)")
    .option("--compress <gzip|zstd|none>", "recompress every layer (new digests)")
    .option("--compress-level <n>", "level for --compress (gzip 0-9, zstd 1-22)")
    .option("--keep-going", "go on after a failing image and report it at the end (the default)")
    .option("--fail-fast", "stop at the first failure")
    .option("--dry-run", "compare and print the plan; copy nothing")
    .option("--force", "replace an existing file at an oci-archive: destination that is not such an archive")
    .option("-f, --format <format>", "summary on stdout: text (nothing, or the plan for --dry-run) or json")
    .option("-q, --quiet", "no per-image lines and no summary on stderr")
    .addOption(
      new Option("--progress <mode>", "per-image lines on stderr; auto adds a live status line on a terminal, json prints events only")
        .choices(["auto", "plain", "json", "none"])
        .default("auto"),
    );
  addTrustOptions(cmd, { gate: true });
  addSignOptions(cmd);
  addTransportOptions(cmd, { twoSided: true });
  cmd.action(async (src: string | undefined, dst: string | undefined, flags: SyncFlags) => {
    const { runSync } = await import("./sync-run.js");
    await runSync(ctx, src, dst, flags);
  });
}
