// `dray mutate SRC [DST]`: an image's config (labels, environment,
// entrypoint, command, user, working folder, creation time) or annotations
// rewritten, layers untouched, on every platform of an index (or those
// chosen). The new manifests have new digests; the old ones' referrers do not
// refer to them and are not attached.
import { UsageError } from "../errors.js";
import type { CopySummary } from "../copy/types.js";
import { MediaType } from "../oci/mediatype.js";
import { parsePlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import { openSource } from "../transport/index.js";
import { rewriteImages, type ImageDocs, type ManifestChange } from "./rewrite.js";
import { asLocation, checkDestination, writeComposed, type AssembleOptions } from "./write.js";

/** Where an annotation goes: the index, each platform manifest (or one platform's), or the top manifest. */
export interface AnnotationTarget {
  index: boolean;
  manifest: boolean;
  /** `manifest[os/arch]:` only that platform's manifest. */
  platform?: Platform;
}

export interface TargetedAnnotation {
  /** Undefined: the top manifest (the index of an index, else the image's manifest). */
  target?: AnnotationTarget;
  key: string;
  value: string;
}

export interface MutateOptions extends AssembleOptions {
  /** Labels set (KEY=VALUE) and removed (KEY). */
  labels?: Record<string, string>;
  removeLabels?: string[];
  /** Environment variables set: an existing KEY= entry is replaced, a new one appended. */
  env?: Record<string, string>;
  /** The entrypoint and command (an empty list clears it). */
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  workdir?: string;
  /** RFC 3339 creation time for the config's `created`. */
  created?: string;
  annotations?: TargetedAnnotation[];
  /** Only these platforms of an index are rewritten; the others keep their digests. */
  platforms?: Platform[];
}

export interface MutateResult {
  source: string;
  destination: string;
  digest: string;
  previousDigest: string;
  mediaType: string;
  /** Every manifest's old and new digest (the index last). */
  manifests: ManifestChange[];
  /** Said once: the old digests' referrers are not attached to the new ones. */
  notice: string | null;
  copy: CopySummary;
}

/**
 * Parses `--annotation [TARGET:]KEY=VALUE`, TARGET being `index`, `manifest`,
 * `index,manifest` or `manifest[os/arch]`, as `buildx imagetools create
 * --annotation` spells it.
 */
export function parseAnnotation(text: string): TargetedAnnotation {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new UsageError(`--annotation expects [index:|manifest:]KEY=VALUE, not "${text}"`);
  const head = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const m = /^((?:index|manifest(?:\[[^\]]+\])?)(?:,(?:index|manifest(?:\[[^\]]+\])?))*):(.+)$/.exec(head);
  if (!m) return { key: head, value };
  const target: AnnotationTarget = { index: false, manifest: false };
  for (const part of m[1]!.split(",")) {
    if (part === "index") target.index = true;
    else {
      target.manifest = true;
      const p = /^manifest\[(.+)\]$/.exec(part);
      if (p) target.platform = parsePlatform(p[1]!);
    }
  }
  return { target, key: m[2]!, value };
}

/** DST when given, else SRC's own tag (a digest-only SRC needs a DST: the result has a new digest). */
export function defaultDestination(src: Location, command: string): Location {
  switch (src.transport) {
    case "docker": {
      if (src.ref.tag === undefined) throw new UsageError(`${command}: ${formatLocation(src)} names no tag to write back to; give DST`);
      const { digest: _digest, ...ref } = src.ref;
      return { ...src, ref };
    }
    case "oci":
    case "oci-archive":
      if (src.ref?.kind !== "tag") throw new UsageError(`${command}: ${formatLocation(src)} names no tag to write back to; give DST`);
      return src;
    case "docker-archive":
      throw new UsageError(`${command}: give DST (a docker-archive is not rewritten in place)`);
  }
}

/** Rewrites `src`'s config and annotations into `dst` (default: `src`'s own tag). */
export async function mutate(src: Location | string, dst: Location | string | undefined, opts: MutateOptions): Promise<MutateResult> {
  const srcLoc = asLocation(src);
  const dstLoc = dst === undefined ? defaultDestination(srcLoc, "mutate") : asLocation(dst);
  await checkDestination(dstLoc, false, "mutate", [srcLoc]);
  checkSomething(opts);
  const source = await openSource(srcLoc, opts.source);
  try {
    const annotations = opts.annotations ?? [];
    const where = formatLocation(srcLoc);
    const rewritten = await rewriteImages(
      source,
      dstLoc,
      opts.platforms ?? [],
      {
        image: (docs) => {
          if (!docs.inIndex && annotations.some((a) => a.target?.index))
            throw new UsageError(`mutate: ${where} is a single image; an index: annotation has no index to go on`);
          editConfig(docs.config, opts);
          annotateManifest(docs, annotations);
        },
        index: (doc) => annotateIndex(doc, annotations),
      },
      opts.signal,
    );
    const copy = await writeComposed(rewritten.composed, dstLoc, opts);
    const changed = rewritten.changes.some((c) => c.from !== c.to);
    return {
      source: formatLocation(srcLoc),
      destination: formatLocation(dstLoc),
      // What the destination stored: a docker-archive keeps one platform of an index, in its own manifest.
      digest: copy.digest,
      previousDigest: rewritten.previous.digest.toString(),
      mediaType: copy.mediaType,
      manifests: rewritten.changes,
      notice: changed
        ? "referrers of the old digests (signatures, SBOMs, attestations) do not refer to the new ones and were not attached"
        : null,
      copy,
    };
  } finally {
    await source.close();
  }
}

function checkSomething(opts: MutateOptions): void {
  const any =
    opts.labels ??
    opts.removeLabels ??
    opts.env ??
    opts.entrypoint ??
    opts.cmd ??
    opts.user ??
    opts.workdir ??
    opts.created ??
    opts.annotations;
  if (any === undefined)
    throw new UsageError(
      "mutate: nothing to change (give --label, --env, --entrypoint, --cmd, --user, --workdir, --created or --annotation)",
    );
}

/** The config's `config` object, made when absent (a scratch-built config may have none). */
function runConfig(config: Record<string, unknown>): Record<string, unknown> {
  const c = config.config;
  if (typeof c === "object" && c !== null && !Array.isArray(c)) return c as Record<string, unknown>;
  const fresh: Record<string, unknown> = {};
  config.config = fresh;
  return fresh;
}

function editConfig(config: Record<string, unknown>, opts: MutateOptions): void {
  const c = runConfig(config);
  if (opts.labels || opts.removeLabels) {
    const before = c.Labels as Record<string, string> | null | undefined;
    const labels = { ...(before ?? {}), ...opts.labels };
    for (const k of opts.removeLabels ?? []) delete labels[k];
    // Removing a label an image without labels lacks must not add `Labels: {}` (a new digest for no change).
    if ((before !== null && before !== undefined) || Object.keys(labels).length > 0) c.Labels = labels;
  }
  if (opts.env) {
    const env = [...((c.Env as string[] | null | undefined) ?? [])];
    for (const [k, v] of Object.entries(opts.env)) {
      const at = env.findIndex((e) => e.startsWith(`${k}=`) || e === k);
      if (at >= 0) env[at] = `${k}=${v}`;
      else env.push(`${k}=${v}`);
    }
    c.Env = env;
  }
  if (opts.entrypoint) c.Entrypoint = opts.entrypoint.length > 0 ? opts.entrypoint : null;
  if (opts.cmd) c.Cmd = opts.cmd.length > 0 ? opts.cmd : null;
  if (opts.user !== undefined) c.User = opts.user;
  if (opts.workdir !== undefined) c.WorkingDir = opts.workdir;
  if (opts.created !== undefined) config.created = opts.created;
}

function annotateManifest(docs: ImageDocs, annotations: readonly TargetedAnnotation[]): void {
  const mine = annotations.filter((a) => {
    if (!a.target) return !docs.inIndex;
    if (!a.target.manifest) return false;
    return a.target.platform === undefined || platformMatches(a.target.platform, docs.platform);
  });
  if (mine.length === 0) return;
  if (docs.mediaType === MediaType.DockerManifest)
    throw new UsageError("mutate: Docker's manifest format has no annotations; convert with dray copy --manifest-format oci first");
  docs.manifest.annotations = { ...((docs.manifest.annotations as Record<string, string> | undefined) ?? {}), ...pairs(mine) };
}

function annotateIndex(doc: Record<string, unknown>, annotations: readonly TargetedAnnotation[]): void {
  // Without a target an annotation goes on the top manifest: here, the index.
  const mine = annotations.filter((a) => a.target?.index ?? true);
  if (mine.length === 0) return;
  if (doc.mediaType === MediaType.DockerManifestList)
    throw new UsageError("mutate: Docker's manifest list has no annotations; convert with dray copy --manifest-format oci first");
  doc.annotations = { ...((doc.annotations as Record<string, string> | undefined) ?? {}), ...pairs(mine) };
}

function pairs(list: readonly TargetedAnnotation[]): Record<string, string> {
  return Object.fromEntries(list.map((a) => [a.key, a.value]));
}
