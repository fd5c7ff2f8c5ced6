/**
 * `--shard K/N`: a deterministic split of a mirror's images over N runs that
 * share nothing but the registries. Each image (repository name and tag) is
 * hashed with SHA-256, so every runner, whatever its machine or Node version,
 * puts it in the same shard; N runs with K = 1..N together take every image
 * exactly once. Referrers are not hashed: they follow their subject.
 */
import { createHash } from "node:crypto";
import { UsageError } from "../errors.js";

export interface Shard {
  /** 1-based: the K of K/N. */
  index: number;
  count: number;
}

const SHARD_RE = /^([1-9]\d*)\/([1-9]\d*)$/;

/** Reads `K/N` (1 ≤ K ≤ N). */
export function parseShard(text: string): Shard {
  const m = SHARD_RE.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || index > count)
    throw new UsageError(`invalid shard ${JSON.stringify(text)}: expected K/N with 1 ≤ K ≤ N (e.g. 2/3)`);
  return { index, count };
}

/** The shard (1-based) of image `repository:tag` among `count`. */
export function shardOf(repository: string, tag: string, count: number): number {
  const h = createHash("sha256").update(`${repository}:${tag}`).digest();
  return (h.readUInt32BE(0) % count) + 1;
}

/** True when `shard` takes image `repository:tag` (always, without a shard). */
export function inShard(shard: Shard | undefined, repository: string, tag: string): boolean {
  return shard === undefined || shard.count === 1 || shardOf(repository, tag, shard.count) === shard.index;
}

export function formatShard(s: Shard): string {
  return `${s.index}/${s.count}`;
}
