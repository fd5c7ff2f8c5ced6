// Child process for the concurrent-writer test: writes ROUNDS fixture images
// into the layout DIR, tagged PREFIX-0 … PREFIX-(ROUNDS-1), each in its own
// open/commit, and prints the digests it committed as JSON.
import { openLayoutDestination } from "../../../src/transport/layout/index.js";
import { buildImage } from "../../helpers/fixtures.js";
import { putBuilt } from "./util.js";

const [dir, prefix, roundsText] = process.argv.slice(2);
if (!dir || !prefix) throw new Error("usage: writer-child DIR PREFIX [ROUNDS]");
const rounds = Number(roundsText ?? "1");
const out: Record<string, string> = {};
for (let i = 0; i < rounds; i++) {
  const tag = `${prefix}-${i}`;
  const img = await buildImage({ seed: tag, layerCount: 2 });
  await putBuilt(await openLayoutDestination({ transport: "oci", path: dir, ref: { kind: "tag", tag } }, {}), img);
  out[tag] = img.manifest.digest.toString();
}
process.stdout.write(JSON.stringify(out));
