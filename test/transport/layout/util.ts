// Shared pieces of the layout tests. `putBuilt` feeds a fixture image into a
// destination the way the copy engine does (blobs, children, then the top
// manifest, then commit): a stand-in for the SOURCE side only, the
// destination under test is real. `copyImage` does the same from a real
// ImageSource, verifying each blob as the engine would.
import { readdir, readFile, lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Digest, VerifyingStream } from "../../../src/oci/digest.js";
import { parseRawManifest, type RawManifest } from "../../../src/oci/manifest.js";
import type { ImageDestination, ImageSource } from "../../../src/transport/types.js";
import { blobsOf, manifestsOf, type Built } from "../../helpers/fixtures.js";

export async function putBuilt(dest: ImageDestination, built: Built, tag?: string): Promise<void> {
  await putAll(dest, built, tag);
  await dest.commit();
}

/** putBuilt up to the commit, then abort() as a copy that failed at the end does. */
export async function putBuiltThenFail(dest: ImageDestination, built: Built): Promise<void> {
  await putAll(dest, built);
  await dest.abort();
}

async function putAll(dest: ImageDestination, built: Built, tag?: string): Promise<void> {
  await Promise.all(
    blobsOf(built).map(async (b) => {
      if (!(await dest.hasBlob(b))) await dest.putBlob(b, Readable.from([b.bytes]));
    }),
  );
  const all = manifestsOf(built);
  for (const m of all.slice(0, -1)) await dest.putManifest(m);
  await dest.putManifest(all[all.length - 1]!, tag === undefined ? { isTop: true } : { tag, isTop: true });
}

/** Copies what `src` names into `dest`, blobs verified on the way; commits. */
export async function copyImage(src: ImageSource, dest: ImageDestination): Promise<Digest> {
  const top = await src.getManifest();
  await copyManifest(src, dest, top);
  await dest.putManifest(top, { isTop: true });
  await dest.commit();
  return top.digest;
}

async function copyManifest(src: ImageSource, dest: ImageDestination, m: RawManifest): Promise<void> {
  const parsed = parseRawManifest(m);
  if (parsed.kind === "index") {
    for (const child of parsed.manifests) {
      const raw = await src.getManifest(child.digest);
      await copyManifest(src, dest, raw);
      await dest.putManifest(raw);
    }
    return;
  }
  for (const d of [parsed.config, ...parsed.layers]) {
    if (await dest.hasBlob(d)) continue;
    const stream = await src.getBlob(d);
    const verified = stream.pipe(new VerifyingStream({ digest: d.digest, size: d.size }));
    stream.on("error", (err) => verified.destroy(err));
    await dest.putBlob(d, verified);
  }
}

/** Every file below `dir` with its content digest (or link target), for "nothing changed" checks. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    for (const name of await readdir(join(dir, rel))) {
      const r = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(join(dir, r));
      if (st.isSymbolicLink()) out[r] = `-> ${await readlink(join(dir, r))}`;
      else if (st.isDirectory()) {
        out[`${r}/`] = "dir";
        await walk(r);
      } else out[r] = Digest.of(await readFile(join(dir, r))).toString();
    }
  }
  await walk("");
  return out;
}

export async function readIndexJson(
  dir: string,
): Promise<{ manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }> }> {
  return JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
    manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>;
  };
}

export async function streamToBuffer(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
