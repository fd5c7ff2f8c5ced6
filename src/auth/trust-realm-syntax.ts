/**
 * Checks a `--trust-realm` / `trust-realm:` value: a host name or address,
 * optionally with a port. Kept apart from the realm policy (which loads the
 * Public Suffix List) so declaring the CLI options stays cheap.
 * Undefined when valid, else why not.
 */
export function invalidTrustRealm(text: string): string | undefined {
  const t = text.trim();
  if (t === "") return "is empty";
  if (/[/\s@?#]/.test(t)) return "expects a host (HOST or HOST:PORT), not a URL";
  return undefined;
}
