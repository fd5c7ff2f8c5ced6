/** A parsed JSON object: not null, not an array. The one test every JSON reader of dray uses. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
