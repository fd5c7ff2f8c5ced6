// The secrets this run has sent (passwords, Basic values, tokens), so that
// text a server sends back is printed without them: a registry, or a proxy in
// front of it, that echoes the Authorization header or the password in its
// error message would otherwise put the credential in the user's terminal
// and CI log. The registry already had it; the log's readers did not.

const sent = new Set<string>();

/**
 * Shorter values are left alone: redacting a 4-letter password would cut
 * words out of every message ("latest"), and real secrets are longer.
 */
const MIN_LENGTH = 6;

/** Remembers secrets about to be sent (undefined and short values are skipped). */
export function noteSentSecret(...values: ReadonlyArray<string | undefined>): void {
  for (const v of values) if (v !== undefined && v.length >= MIN_LENGTH) sent.add(v);
}

/** `text` with every secret this run sent replaced by `***` (longest first, so a Basic value goes whole). */
export function withoutSentSecrets(text: string): string {
  if (sent.size === 0) return text;
  let out = text;
  for (const s of [...sent].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}
