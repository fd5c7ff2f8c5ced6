// Shared pieces of the archive tests: feeding a fixture image into a
// destination as the copy engine does, hand-made tars for hostile inputs, and
// error matchers.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { isDrayError, type ErrorCode } from "../../../src/errors.js";
import type { ImageDestination } from "../../../src/transport/types.js";
import type { BuiltImage } from "../../helpers/fixtures.js";

/** What the engine hands a destination that keeps digests: config, layers and manifest as the fixture built them. */
export async function putImage(
  dest: ImageDestination,
  img: BuiltImage,
  opts: { tag?: string; isTop?: boolean } = { isTop: true },
): Promise<void> {
  await dest.putBlob(img.config, Readable.from([img.config.bytes]));
  await Promise.all(img.layers.map((l) => dest.putBlob(l, Readable.from([l.bytes]))));
  await dest.putManifest(img.manifest, opts);
}

export interface RawTarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link";
  content?: Buffer | string;
  linkname?: string;
}

/** A tar made directly with tar-stream (not dray's writer), names taken verbatim: the way to build hostile archives. */
export async function rawTar(entries: RawTarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => resolve(Buffer.concat(chunks)));
    p.on("error", reject);
  });
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const type = e.type ?? "file";
      if (type === "file") p.entry({ name: e.name, type, mode: 0o644 }, Buffer.from(e.content ?? ""), cb);
      else p.entry({ name: e.name, type, linkname: e.linkname ?? "", mode: 0o755 }, cb).end(undefined);
    });
  }
  p.finalize();
  return done;
}

/** assert.rejects matcher: a DrayError with `code`, message matching `re`. */
export function code(c: ErrorCode, re?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isDrayError(e, c), `expected ${c}, got ${e instanceof Error ? `${(e as { code?: string }).code}: ${e.message}` : String(e)}`);
    if (re) assert.match(e.message, re);
    return true;
  };
}

/** Names in `dir` (sorted), for "nothing else was written here" checks. */
export async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}
