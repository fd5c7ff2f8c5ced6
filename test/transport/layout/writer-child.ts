// Child process for the concurrent-writer test: writes ROUNDS fixture images
// into the layout DIR, tagged PREFIX-0 … PREFIX-(ROUNDS-1), each in its own
// open/commit, and prints the digests it committed as JSON. With SEED, every
// image is built from SEED-i instead (two writers then share every blob); with
// `fail`, each write ends in abort() instead of commit(), as a failed copy does.
import { openLayoutDestination } from "../../../src/transport/layout/index.js";
import { buildImage } from "../../helpers/fixtures.js";
import { putBuilt, putBuiltThenFail } from "./util.js";

const [dir, prefix, roundsText, seed, mode] = process.argv.slice(2);
if (!dir || !prefix) throw new Error("usage: writer-child DIR PREFIX [ROUNDS [SEED [fail]]]");
const rounds = Number(roundsText ?? "1");
const out: Record<string, string> = {};
for (let i = 0; i < rounds; i++) {
  const tag = `${prefix}-${i}`;
  const img = await buildImage({ seed: `${seed ?? prefix}-${i}`, layerCount: 2 });
  const dst = await openLayoutDestination({ transport: "oci", path: dir, ref: { kind: "tag", tag } }, {});
  if (mode === "fail") {
    await putBuiltThenFail(dst, img);
    continue;
  }
  await putBuilt(dst, img);
  out[tag] = img.manifest.digest.toString();
}
process.stdout.write(JSON.stringify(out));
