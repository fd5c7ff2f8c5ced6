// The peers' own test data, committed under test/peers/ (see its README for
// where each folder came from), copied into a temporary folder before a test
// changes it.
import { cp } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir } from "./tmp.js";

/** The repository's root: the first folder above this file holding package.json (from test/ or dist/test/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

/** The committed path of a peer fixture, `containers-image/oci/layout/fixtures/NAME`. */
export function peerFixture(path: string): string {
  return join(repoRoot(), "test", "peers", ...path.split("/"));
}

/** A fresh copy of a peer fixture folder, safe to change. */
export async function copyPeerFixture(path: string): Promise<string> {
  const to = join(makeTempDir("dray-peer-"), path.split("/").pop()!);
  await cp(peerFixture(path), to, { recursive: true });
  return to;
}
