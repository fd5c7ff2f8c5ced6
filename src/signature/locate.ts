// The repository an image lives in, for reading and writing its signatures:
// a registry repository, an OCI layout, or an oci-archive staged as a layout
// (a whole-mirror archive's `REPO:TAG` names seen as the repository REPO, as
// sync writes them), through the transport's RepositoryFactory.openStaged.
import { UsageError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { formatLocation, type Location } from "../ref/location.js";
import { parseReference, type ImageReference } from "../ref/reference.js";
import { splitRefName } from "../transport/index.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { Repository, TransportOptions } from "../transport/types.js";

export interface ImageRepository {
  repo: Repository;
  /** The tag or digest `loc` names inside `repo`; undefined when a layout's only image is meant. */
  ref: string | Digest | undefined;
  /** Packs a changed archive back over its file (`publish`), and releases the staging folder. */
  close(publish: boolean): Promise<void>;
}

/** Opens the repository of `loc` (registry, `oci:`, `oci-archive:` file); `forWriting` when signatures will be written. */
export async function openImageRepository(loc: Location, transport: TransportOptions, forWriting: boolean): Promise<ImageRepository> {
  if (loc.transport === "docker-archive")
    throw new UsageError(
      `${formatLocation(loc)}: signatures live in a registry, an OCI layout (oci:DIR) or an oci-archive, not a docker-archive`,
    );
  const staged = await new RepositoryFactory(() => transport).openStaged(loc, { readOnly: !forWriting });
  const close = async (publish: boolean): Promise<void> => {
    try {
      if (publish) await staged.publish();
    } finally {
      await staged.close();
    }
  };
  if (loc.transport === "docker") return { repo: staged.repo, ref: loc.ref.digest ?? loc.ref.tag ?? "latest", close };
  const named = loc.transport === "oci-archive" && loc.ref?.kind === "tag" ? splitRefName(loc.ref.tag) : undefined;
  if (named) return { repo: staged.repo, ref: named.tag, close };
  return { repo: staged.repo, ref: loc.ref?.kind === "digest" ? loc.ref.digest : loc.ref?.tag, close };
}

/** The repository name a signature written into `repo` names: `host/path` of a registry, a mirror archive's `REPO`; none for a layout. */
export function repositoryNameOf(repo: Repository): string | undefined {
  const loc = repo.location;
  if (loc.transport === "docker") return `${loc.ref.domain}/${loc.ref.path}`;
  if (loc.transport === "oci-archive" && loc.ref?.kind === "tag") return loc.ref.tag;
  return undefined;
}

/**
 * The reference an image is read under, for a signature's identity: a
 * registry's, and a whole-mirror archive's `REPO:TAG` (the repository a
 * signature written there names, repositoryNameOf); none for a layout.
 */
export function imageReferenceOf(loc: Location): ImageReference | undefined {
  if (loc.transport === "docker") return loc.ref;
  if (loc.transport !== "oci-archive" || loc.ref?.kind !== "tag" || !splitRefName(loc.ref.tag)) return undefined;
  try {
    return parseReference(loc.ref.tag);
  } catch {
    return undefined;
  }
}
