import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { whyUnreadable } from "../errors.js";

/**
 * What is wrong with a CA file (`--ca-file`, a sync file's `ca-file:`, a
 * certs.d folder's `*.crt`), in words, or undefined. Read before any request,
 * so a typo is one clear line (exit 2) instead of Node's ENOENT, and a file
 * that holds no certificate is not reported later as the registry's
 * "self-signed certificate". The first certificate must parse as X.509: a
 * file that only has the BEGIN line would pass a text check and fail the
 * handshake.
 */
export function caFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return `${path} ${whyUnreadable(err)}`;
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) return `${path} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`;
  try {
    new X509Certificate(text);
  } catch {
    return `${path} holds no valid PEM certificate (its first certificate does not parse)`;
  }
  return undefined;
}
