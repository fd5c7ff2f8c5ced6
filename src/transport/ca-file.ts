import { readFileSync } from "node:fs";

/**
 * What is wrong with a CA file (`--ca-file`, a sync file's `ca-file:`), in
 * words, or undefined. Read before any request, so a typo is one clear line
 * (exit 2) instead of Node's ENOENT, and a file that holds no certificate is
 * not reported later as the registry's "self-signed certificate".
 */
export function caFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return `${path} ${unreadable(err)}`;
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) return `${path} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`;
  return undefined;
}

/** Why a local file could not be read, in words rather than ENOENT/EISDIR/EACCES. */
export function unreadable(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
    case "ENOTDIR":
      return "does not exist";
    case "EISDIR":
      return "is a directory, not a file";
    case "EACCES":
    case "EPERM":
      return "cannot be read: permission denied";
    default:
      return `cannot be read: ${(err as Error).message}`;
  }
}
