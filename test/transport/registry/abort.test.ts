// RegistryDestination.abort() cancels the upload sessions a mount opened and
// nobody used (issue 32, item 9): distribution 2.8 answers a mount whose
// source lacks the blob with 202 and a session, which the registry would
// otherwise keep (and its temporary folder) until its purge runs.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Digest } from "../../../src/oci/digest.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";
import { closeRegistryConnections, openRegistryDestination } from "../../../src/transport/registry/index.js";
import { startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { isolateCredentials } from "./support.js";

isolateCredentials();
after(() => closeRegistryConnections());

function loc(text: string): RegistryLocation {
  return parseLocation(text) as RegistryLocation;
}

describe("RegistryDestination.abort", () => {
  let reg: RegistryHandle;
  before(async () => {
    reg = await startRegistry({ mode: "plain" });
  });

  it("cancels the session a refused mount opened (DELETE of its Location)", async () => {
    const debug: string[] = [];
    const dst = await openRegistryDestination(loc(`docker://${reg.host}/b/dst:v1`), { debug: (l) => debug.push(l) });
    const bytes = Buffer.from("a blob no repository holds");
    const desc = { mediaType: MediaType.OciLayerGzip, digest: Digest.of(bytes), size: bytes.length };
    assert.equal(await dst.mountBlob!(desc, loc(`docker://${reg.host}/a/empty:v1`)), false);
    const opened = debug.find((l) => /^POST .*\/v2\/b\/dst\/blobs\/uploads\/\?mount=.* -> 202/.test(l));
    assert.ok(opened, debug.join("\n"));
    // The registry's own record of an open session: a folder under the repository's _uploads whose `startedat`
    // a GET or PATCH of the session's URL looks up (BLOB_UPLOAD_UNKNOWN without it).
    const uploads = join(reg.storageDir, "docker/registry/v2/repositories/b/dst/_uploads");
    const open = readdirSync(uploads);
    assert.equal(open.length, 1, `open upload sessions: ${open.join(", ")}`);
    const startedAt = join(uploads, open[0]!, "startedat");
    assert.equal(existsSync(startedAt), true);
    await dst.abort();
    // Distribution leaves the session's hash state behind (written as the writer closes); the session itself is gone.
    assert.equal(existsSync(startedAt), false, "the upload session is still open in the registry's storage");
    assert.equal(existsSync(join(uploads, open[0]!, "data")), false);
    const cancelled = debug.filter((l) => /^DELETE .*\/v2\/b\/dst\/blobs\/uploads\/[^?]+.* -> 204/.test(l));
    assert.equal(cancelled.length, 1, debug.join("\n"));
    assert.ok(cancelled[0]!.includes(`/blobs/uploads/${open[0]}`), cancelled[0]);
  });
});
