// The repository an image lives in, for reading and writing its signatures:
// a registry repository, an OCI layout, or an oci-archive unpacked into a
// staging layout (a whole-mirror archive's `REPO:TAG` names seen as the
// repository REPO, as sync writes them). An archive written to is packed
// back over the file when the caller is done.
import { UsageError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { formatLocation, type Location } from "../ref/location.js";
import { ArchiveRepository, MirrorArchive, splitRefName } from "../transport/index.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { Repository, TransportOptions } from "../transport/types.js";

export interface ImageRepository {
  repo: Repository;
  /** The tag or digest `loc` names inside `repo`; undefined when a layout's only image is meant. */
  ref: string | Digest | undefined;
  /** The repository the image is named under (`host/repo`, a mirror archive's `REPO`), when it has one. */
  repository: string | undefined;
  /** Packs a changed archive back over its file (`publish`), and releases the staging folder. */
  close(publish: boolean): Promise<void>;
}

/** Opens the repository of `loc` (registry, `oci:`, `oci-archive:` file). */
export async function openImageRepository(loc: Location, transport: TransportOptions): Promise<ImageRepository> {
  const factory = new RepositoryFactory(() => transport);
  switch (loc.transport) {
    case "docker":
      return {
        repo: await factory.open(loc),
        ref: loc.ref.digest ?? loc.ref.tag ?? "latest",
        repository: `${loc.ref.domain}/${loc.ref.path}`,
        close: async () => undefined,
      };
    case "oci":
      return {
        repo: await factory.open(loc),
        ref: loc.ref?.kind === "digest" ? loc.ref.digest : loc.ref?.tag,
        repository: undefined,
        close: async () => undefined,
      };
    case "oci-archive": {
      if (loc.path === "-")
        throw new UsageError(`${formatLocation(loc)}: signatures are read and written in an archive file, not a stream`);
      const archive = await MirrorArchive.open(loc.path, transport);
      try {
        const inner = await factory.open({ transport: "oci", path: archive.layoutPath });
        const named = loc.ref?.kind === "tag" ? splitRefName(loc.ref.tag) : undefined;
        const close = async (publish: boolean): Promise<void> => {
          try {
            if (publish) {
              archive.touch();
              await archive.publish(transport);
            }
          } finally {
            await archive.close();
          }
        };
        if (named) {
          const repoLoc = { transport: "oci-archive" as const, path: loc.path, ref: { kind: "tag" as const, tag: named.repository } };
          return { repo: new ArchiveRepository(repoLoc, archive, inner), ref: named.tag, repository: named.repository, close };
        }
        return { repo: inner, ref: loc.ref?.kind === "digest" ? loc.ref.digest : loc.ref?.tag, repository: undefined, close };
      } catch (err) {
        await archive.close();
        throw err;
      }
    }
    default:
      throw new UsageError(
        `${formatLocation(loc)}: signatures live in a registry, an OCI layout (oci:DIR) or an oci-archive, not a docker-archive`,
      );
  }
}

/** The repository name a signature written into `repo` names: `host/path` of a registry, a mirror archive's `REPO`; none for a layout. */
export function repositoryNameOf(repo: Repository): string | undefined {
  const loc = repo.location;
  if (loc.transport === "docker") return `${loc.ref.domain}/${loc.ref.path}`;
  if (loc.transport === "oci-archive" && loc.ref?.kind === "tag") return loc.ref.tag;
  return undefined;
}
