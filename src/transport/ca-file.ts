import { X509Certificate } from "node:crypto";
import { resolve } from "node:path";
import { UsageError, whyUnreadable } from "../errors.js";
import { readTextFileSync } from "../input-file.js";

/**
 * Each CA file's PEM, or what is wrong with it, by absolute path: a file is
 * read once per run. The CLI checks `--ca-file` before any request, the
 * registry client checks it again for each registry (resolveTls), and each
 * connection pool's TLS options need its text; all three ask here. A file
 * changed during a run is not read again, as the pools already created keep
 * the CAs they were given.
 */
const loaded = new Map<string, { pem: string } | { problem: string }>();

function load(path: string): { pem: string } | { problem: string } {
  const key = resolve(path);
  let found = loaded.get(key);
  if (!found) {
    found = read(path);
    loaded.set(key, found);
  }
  return found;
}

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
  const found = load(path);
  return "problem" in found ? found.problem : undefined;
}

/** A CA file's PEM text for a connection's TLS options; a file caFileProblem refuses is a usage error in its words. */
export function caFilePem(path: string): string {
  const found = load(path);
  if ("problem" in found) throw new UsageError(`CA file ${found.problem}`, { where: path });
  return found.pem;
}

function read(path: string): { pem: string } | { problem: string } {
  let text: string;
  try {
    text = readTextFileSync(path);
  } catch (err) {
    return { problem: `${path} ${whyUnreadable(err)}` };
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----"))
    return { problem: `${path} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)` };
  try {
    new X509Certificate(text);
  } catch {
    return { problem: `${path} holds no valid PEM certificate (its first certificate does not parse)` };
  }
  return { pem: text };
}
