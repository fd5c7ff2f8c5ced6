/**
 * A whole mirror in one oci-archive: `dray sync SRC oci-archive:FILE` puts
 * every repository's images in one tar, each named `REPO:TAG` (ref.name may
 * hold `/` and `:`: OCI image-layout, "ref.name" grammar), referrers by digest
 * and their `REPO:sha256-<hex>` tag-schema indexes beside them; `dray sync
 * oci-archive:FILE PREFIX` puts them back, one repository per name.
 *
 * The archive is unpacked into a staging OCI layout (a tar cannot
 * be changed in place), the run reads and writes that layout through the
 * layout transport, and at the end the layout is packed into a new tar that
 * is renamed over the old one: a second sync adds to what the archive held,
 * an interrupted one leaves the archive as it was. Disk: the staging layout
 * in `$TMPDIR` (dray's per-user folder there), the new archive beside the
 * old one; both are checked before each image's first blob (space.ts).
 */
import type { LayoutLocation } from "../ref/location.js";

export type { MirrorArchive, MirrorArchives } from "../transport/index.js";

/** The location of repository `repository` inside the mirror archive `file` (how sync names it: `oci-archive:FILE:team/app`). */
export function archiveRepository(file: string, repository: string): LayoutLocation {
  return { transport: "oci-archive", path: file, ref: { kind: "tag", tag: repository } };
}
