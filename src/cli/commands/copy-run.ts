import { writeFile } from "node:fs/promises";
import { type AllTagsSummary, copy, copyAllTags, type CopyLocationOptions, type CopySummary } from "../../api/copy.js";
import { Digest, type Location, parsePlatform, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { hasTrustFlags } from "../../api/policy.js";
import type { SignatureWritten } from "../../api/signature.js";
import {
  conversionOptions,
  transportOptions,
  trustFlags,
  type SignOptionFlags,
  type TransportFlags,
  type TrustOptionFlags,
} from "../options.js";
import { checkOutputFile } from "../output-file.js";
import { parseFormat, render, skopeoKeys } from "../output.js";
import { checkQuietProgress, createProgress, formatBytes, resolveMode, type TerminalInfo, type ProgressMode } from "../progress.js";
import type { ReferrersSummary } from "../../api/referrers.js";
import type { ReferrerLines } from "./copy-referrers-run.js";
import { defined } from "../../defined.js";

export interface CopyFlags extends TransportFlags, TrustOptionFlags, SignOptionFlags {
  platform?: string[];
  manifestFormat?: string;
  compress?: string;
  compressLevel?: string;
  allTags?: boolean;
  jobs?: number;
  digestfile?: string;
  format?: string;
  quiet?: boolean;
  progress: ProgressMode;
  referrers?: boolean;
}

/** The copy command's body, loaded only when `dray copy` runs (it pulls in the engine and the renderers). */
export async function runCopy(ctx: CliContext, srcText: string, dstText: string, flags: CopyFlags): Promise<void> {
  const format = parseFormat(flags.format);
  // A template naming a field the summary lacks fails now, before anything moves.
  if (format.kind === "template") format.template.check(flags.allTags ? allTagsJson(SHAPE_ALL_TAGS) : copyJson(SHAPE_COPY));
  const src = await locationArg(srcText);
  const dst = await locationArg(dstText);
  if (flags.allTags && flags.digestfile) throw new UsageError("--digestfile names one image; it cannot be used with --all-tags");
  // Referrers are kept by digest beside their image, which a docker-archive cannot hold and an archive on a pipe
  // cannot be read back for: refused before anything moves, not after the image was written.
  for (const loc of [src, dst]) {
    if (flags.referrers && loc.transport === "docker-archive")
      throw new UsageError("--referrers needs a registry, an OCI layout (oci:DIR) or an oci-archive: a docker-archive holds no referrers");
    if (flags.referrers && loc.transport === "oci-archive" && loc.path === "-")
      throw new UsageError("--referrers needs an oci-archive file, not standard input or output (the archive is read again for them)");
  }
  const quiet = flags.quiet === true;
  checkQuietProgress(quiet, flags.progress);
  if (flags.digestfile) await checkOutputFile(flags.digestfile, "--digestfile");
  // The archive writer refuses a terminal too, but a docker-archive opens its output only after every blob
  // arrived: the refusal belongs before the first request, as oci-archive's and export's are.
  if (onStdio(dst) && ctx.stdout.isTTY === true)
    throw new UsageError(
      "refusing to write an archive to a terminal: redirect standard output (> FILE, | …) or give a file name instead of -",
    );
  const progressMode = resolveMode(flags.progress, quiet, ctx.stderr as TerminalInfo);
  const progress = await createProgress(flags.progress, ctx, quiet);
  // `--progress none` and `-q`: no progress and no summary line on stderr (README: "`none` or `-q` is silent");
  // `--progress json`: only JSON events there, the summary being the `done` event.
  const silent = quiet || flags.progress === "none" || progressMode === "json";
  const referrerLines = silent ? (progressMode === "json" ? "json" : "none") : "lines";
  const opts: CopyLocationOptions = {
    platforms: (flags.platform ?? []).map(parsePlatform),
    signal: ctx.signal,
    onProgress: (e) => progress.onEvent(e),
    source: transportOptions(flags, ctx, "src"),
    destination: transportOptions(flags, ctx, "dest"),
    ...defined({ jobs: flags.jobs }),
    ...conversionOptions(flags),
  };
  // An archive written to stdout owns it: the summary then goes to stderr.
  const sink: CliContext = onStdio(dst) ? { ...ctx, stdout: ctx.stderr } : ctx;
  const trust = trustFlags(flags);
  const gated = hasTrustFlags(trust);
  if (gated && flags.allTags)
    throw new UsageError("the signature gate verifies one image: for every tag of a repository use dray sync --policy");
  // The gate reads the source before the copy reads it again: standard input can be read only once.
  if (gated && onStdio(src))
    throw new UsageError(
      "the signature gate reads the source twice (to verify, then to copy): give the archive as a file, not standard input",
    );
  // The signing key is opened before anything moves (its password may be wrong); the signature goes in between
  // the image landing and its tag being written (the engine's beforeTag).
  // A destination that cannot take signatures is refused first: before the key is read, its password asked for.
  if (flags.signKey !== undefined && dst.transport !== "docker" && dst.transport !== "oci")
    throw new UsageError(
      `--sign-key signs at a registry or an OCI layout (oci:DIR), not ${dst.transport}:${dst.transport === "docker-archive" ? " (a docker-archive holds no signatures)" : ""}; dray sync SRC oci-archive:FILE --sign-key signs into an archive`,
    );
  const resign =
    flags.signKey !== undefined || flags.signFormat !== undefined || flags.keyPasswordStdin
      ? await (await import("./sign-run.js")).loadResign(flags)
      : undefined;
  const signed: Array<{ subject: string } & SignatureWritten> = [];
  let signUpToDate: ((digest: string) => Promise<void>) | undefined;
  if (resign) {
    if (resign.format !== "bundle" && dst.transport !== "docker")
      throw new UsageError("--sign-format legacy names a repository, which an OCI layout has not: use bundle (the default)");
    if (flags.keyPasswordStdin && onStdio(src))
      throw new UsageError("--key-password-stdin and an archive on standard input both want it: give one");
    const { signOnCopy } = await import("../../api/signature.js");
    const { describeSignatures, NO_TLOG_NOTE } = await import("./sign-run.js");
    const onSigned = (subject: string, written: SignatureWritten[]): void => {
      signed.push(...written.map((w) => ({ subject, ...w })));
      if (!quiet) ctx.message(`dray: signed ${subject} with key ${resign.key.fingerprint}: ${describeSignatures({ signatures: written })}`);
    };
    const signer = await signOnCopy(dst, resign, { transport: opts.destination ?? {}, signal: ctx.signal, onSigned });
    opts.beforeTag = signer.beforeTag;
    signUpToDate = async (digest) => void (await signer.signUpToDate(Digest.parse(digest)));
    if (!quiet) ctx.message(`dray: note: ${NO_TLOG_NOTE}`);
  }
  let from = src;
  if (gated) {
    // Before anything moves, and before a progress bar draws: the gate's messages stand alone.
    const { gateCopy } = await import("./verify-run.js");
    from = await gateCopy(ctx, src, trust, opts.source ?? {}, quiet);
  }
  // Signatures travel with a verified image, so the mirror can be verified again downstream.
  const withReferrers = flags.referrers === true || (gated && [src, dst].every((l) => l.transport === "docker" || l.transport === "oci"));
  try {
    if (flags.allTags) {
      const summary = await copyAllTags(src, dst, opts);
      progress.stop();
      if (signUpToDate) for (const d of new Set(summary.tags.filter((t) => t.upToDate).map((t) => t.digest))) await signUpToDate(d);
      // A converted image has a new digest: the source's referrers name the old one, so none are attached to it.
      const kept = summary.tags.filter((t) => t.convertedFrom === undefined).map((t) => t.digest);
      const referrers = flags.referrers ? await copyReferrers(ctx, src, dst, kept, opts, referrerLines) : null;
      if (!quiet) {
        for (const t of summary.skipped) ctx.message(`skipped     ${t.tag}: ${t.reason}`);
        if (summary.referrerTags.length > 0 && !flags.referrers)
          ctx.message(
            `dray: note: ${plural(summary.referrerTags.length, "referrer tag")} not copied as images; --referrers brings them with their images`,
          );
      }
      if (!silent) ctx.message(describeAllTags(summary));
      if (progressMode === "json") ctx.message(JSON.stringify({ type: "all-tags-done", summary }));
      // Referrers stopped by a signal (or -q with an archive on stdout, whose stderr stays empty): no output.
      if ((referrers && ctx.signal.aborted) || (quiet && sink !== ctx)) return referrersDone(referrers);
      await render(sink, format, allTagsJson(summary, referrers, resign ? signed : null), () =>
        summary.tags.map((t) => `${t.tag} ${t.digest}\n`).join(""),
      );
      await referrersDone(referrers);
      return;
    }
    const summary = await copy(from, dst, opts);
    progress.stop();
    if (signUpToDate && summary.upToDate) await signUpToDate(summary.digest);
    if (flags.digestfile) await writeFile(flags.digestfile, summary.digest);
    if (!quiet) {
      // Bars and plain lines already showed the notice as it happened.
      if (summary.notice && progressMode === "none") ctx.message(`dray: note: ${summary.notice}`);
      if (!silent) ctx.message(describe(summary));
    }
    // A converted image has a new digest: the source's referrers name the old one, so none are attached to it.
    const referrers =
      withReferrers && summary.convertedFrom === undefined
        ? await copyReferrers(ctx, src, dst, [summary.digest], opts, referrerLines)
        : null;
    // Referrers stopped by a signal (or -q with an archive on stdout, whose stderr stays empty): no output.
    if ((referrers && ctx.signal.aborted) || (quiet && sink !== ctx)) return referrersDone(referrers);
    await render(sink, format, copyJson(summary, referrers, resign ? signed : null), () => `${summary.digest}\n`);
    await referrersDone(referrers);
  } finally {
    progress.stop();
  }
}

/** Referrers follow the image once it has arrived (loaded only with --referrers). */
async function copyReferrers(
  ctx: CliContext,
  src: Location,
  dst: Location,
  digests: string[],
  opts: CopyLocationOptions,
  lines: ReferrerLines,
): Promise<ReferrersSummary> {
  const { copyReferrersAfterCopy } = await import("./copy-referrers-run.js");
  return copyReferrersAfterCopy(ctx, src, dst, digests, opts, lines);
}

/** Exit 1 once the output is printed when a referrer did not arrive (the image did: its digest or summary is on stdout). */
async function referrersDone(referrers: ReferrersSummary | null): Promise<void> {
  if (!referrers) return;
  const { referrersFailure } = await import("./copy-referrers-run.js");
  const failure = referrersFailure(referrers);
  if (failure) throw failure;
}

/** An archive on standard input (as a source) or output (as a destination). */
function onStdio(loc: Location): boolean {
  return (loc.transport === "oci-archive" || loc.transport === "docker-archive") && loc.path === "-";
}

/**
 * The summary as `--format json` and templates see it: skopeo's capitalised
 * keys like inspect, ls and delete, and every key present (Platforms and
 * Notice null when unset) so a template's fields are the same for every copy.
 */
/** `Signed` lists the signatures --sign-key wrote (null without it). */
function copyJson(s: CopySummary, referrers: object | null = null, signed: object[] | null = null): unknown {
  return skopeoKeys({ ...s, platforms: s.platforms ?? null, notice: s.notice ?? null, servedBy: s.servedBy ?? null, referrers, signed });
}

/** `Referrers` is the --referrers summary (copied, up to date, failed, each item), null without --referrers. */
function allTagsJson(s: AllTagsSummary, referrers: object | null = null, signed: object[] | null = null): unknown {
  return skopeoKeys({
    ...s,
    signed,
    tags: s.tags.map((t) => ({ ...t, platforms: t.platforms ?? null, notice: t.notice ?? null, servedBy: t.servedBy ?? null })),
    referrers,
  });
}

/** Summaries with every field, for checking a template before the copy. */
const SHAPE_COPY: CopySummary = {
  source: "",
  destination: "",
  digest: "",
  mediaType: "",
  manifests: 0,
  blobs: { copied: 0, skipped: 0, mounted: 0 },
  bytes: 0,
  seconds: 0,
  upToDate: false,
  platforms: [""],
  notice: "",
  servedBy: "",
};
const SHAPE_ALL_TAGS: AllTagsSummary = {
  source: "",
  destination: "",
  tags: [{ tag: "", digest: "", mediaType: "", manifests: 0, upToDate: false, platforms: [""], notice: "" }],
  skipped: [{ tag: "", reason: "" }],
  referrerTags: [""],
  manifests: 0,
  blobs: { copied: 0, skipped: 0, mounted: 0 },
  bytes: 0,
  seconds: 0,
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** One line for people, on stderr. */
export function describe(s: CopySummary): string {
  if (s.upToDate) return `${s.destination} is up to date (${s.digest}); nothing copied`;
  const { copied, skipped, mounted } = s.blobs;
  const parts = [`${copied} copied (${formatBytes(s.bytes)})`, `${skipped} skipped`];
  if (mounted > 0) parts.push(`${mounted} mounted`);
  const platforms = s.platforms ? ` [${s.platforms.join(", ")}]` : "";
  return `Copied ${s.source} to ${s.destination}${platforms}: ${plural(s.manifests, "manifest")}, blobs ${parts.join(", ")} in ${s.seconds.toFixed(1)} s`;
}

function describeAllTags(s: AllTagsSummary): string {
  const { copied, skipped, mounted } = s.blobs;
  const left = s.skipped.length > 0 ? ` (${s.skipped.length} skipped)` : "";
  return `Copied ${plural(s.tags.length, "tag")}${left} of ${s.source} to ${s.destination}: ${plural(s.manifests, "manifest")}, blobs ${copied} copied (${formatBytes(s.bytes)}), ${skipped} skipped, ${mounted} mounted in ${s.seconds.toFixed(1)} s`;
}
