/**
 * The CLI prints the library's summaries with skopeo's capitalised keys
 * (`Images.Copied` for `images.copied`; the key convention itself is tested in
 * test/cli/). Tests about what a run did read the CLI's JSON back into the
 * library's types with this.
 */
export function fromCliJson<T>(stdout: string): T {
  return libraryKeys(JSON.parse(stdout)) as T;
}

function libraryKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(libraryKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), libraryKeys(v)]));
}
