import { Option, type Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, collect, parseCount, type TransportFlags } from "../options.js";

export interface SyncFlags extends TransportFlags {
  file?: string;
  dest?: string;
  tag?: string[];
  tagRegex?: string;
  semver?: string;
  newest?: number;
  platform?: string[];
  referrers: boolean;
  jobs?: number;
  failFast?: boolean;
  keepGoing?: boolean;
  dryRun?: boolean;
  format?: string;
  quiet?: boolean;
  progress: "auto" | "plain" | "json" | "none";
}

/** `dray sync`: mirror many repositories and tags (and their referrers), from a YAML file or SRC DST. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("sync")
    .description("mirror repositories and their tags (with signatures and attestations) between registries and OCI layouts")
    .argument("[src]", "source: a repository (HOST/REPO[:TAG]), a registry (HOST[:PORT]), or oci:DIR; or a sync YAML file")
    .argument("[dst]", "destination: the repository (or oci:DIR) for a repository; a prefix (HOST[/PREFIX], oci:DIR) for several")
    .option("--file <sync.yaml>", "what to mirror, from a YAML file (see the README's Sync section)")
    .option("--dest <location>", "override every rule's destination prefix (e.g. oci:/mnt/usb for an air-gapped transfer)")
    .option("--tag <tag>", "take this tag (repeatable)", collect)
    .option("--tag-regex <regex>", "take the tags this regular expression matches")
    .option("--semver <range>", "take the tags inside this semver range (e.g. '>=1.2 <2')")
    .option("--newest <n>", "of the tags taken, only the N highest versions", parseCount("--newest", 1))
    .option("--platform <os/arch[/variant]>", "copy only this platform of an index (repeatable)", collect)
    .option("--no-referrers", "leave signatures, attestations and SBOMs behind (copied by default)")
    .option("-j, --jobs <n>", "repositories and images in flight at once (default 4)", parseCount("--jobs", 1))
    .option("--keep-going", "go on after a failing image and report it at the end (the default)")
    .option("--fail-fast", "stop at the first failure")
    .option("--dry-run", "compare and print the plan; copy nothing")
    .option("-f, --format <format>", "summary on stdout: text (nothing, or the plan for --dry-run) or json")
    .option("-q, --quiet", "no per-image lines and no summary on stderr")
    .addOption(new Option("--progress <mode>", "per-image lines on stderr").choices(["auto", "plain", "json", "none"]).default("auto"));
  addTransportOptions(cmd, { twoSided: true });
  cmd.action(async (src: string | undefined, dst: string | undefined, flags: SyncFlags) => {
    const { runSync } = await import("./sync-run.js");
    await runSync(ctx, src, dst, flags);
  });
}
