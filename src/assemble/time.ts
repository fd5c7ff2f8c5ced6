// Creation times as images carry them: RFC 3339 in UTC, whole seconds unless
// given finer, so the same moment gives the same config bytes everywhere.
import { UsageError } from "../errors.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * `--created TIME`: RFC 3339 (`2024-05-01T12:00:00Z`) or `@EPOCH` seconds (as
 * `date +@%s` and SOURCE_DATE_EPOCH give it), in UTC.
 */
export function parseCreated(text: string, flag = "--created"): string {
  const epoch = /^@(\d{1,12})$/.exec(text.trim());
  if (epoch) return fromEpoch(Number(epoch[1]));
  if (!RFC3339.test(text)) throw new UsageError(`${flag} expects an RFC 3339 time (2024-05-01T12:00:00Z) or @SECONDS, not "${text}"`);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`${flag}: "${text}" is not a real time`);
  const iso = new Date(ms).toISOString();
  // Keep sub-seconds only when they were given.
  return /\.\d+/.test(text) ? iso : iso.replace(/\.\d{3}Z$/, "Z");
}

/** Seconds since 1970 as RFC 3339 UTC without fractions. */
export function fromEpoch(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The reproducible-builds time: `SOURCE_DATE_EPOCH` when set (whole seconds,
 * https://reproducible-builds.org/specs/source-date-epoch/), else undefined.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === "") return undefined;
  if (!/^\d{1,12}$/.test(value)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not "${value}"`);
  return fromEpoch(Number(value));
}
