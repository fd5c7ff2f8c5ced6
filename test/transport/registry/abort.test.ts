// RegistryDestination.abort() cancels the upload sessions a mount opened and
// nobody used (issue 32, item 9): distribution 2.8 answers a mount whose
// source lacks the blob with 202 and a session, which the registry would
// otherwise keep (and its temporary folder) until its purge runs.
import assert from "node:assert/strict";
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
    await dst.abort();
    const cancelled = debug.filter((l) => /^DELETE .*\/v2\/b\/dst\/blobs\/uploads\/[^?]+.* -> 204/.test(l));
    assert.equal(cancelled.length, 1, debug.join("\n"));
  });
});
