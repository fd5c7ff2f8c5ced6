/**
 * Repositories (the optional face of transports/types.ts) for sync and
 * referrer copying: a registry repository (`docker://host/repo`) or an OCI
 * layout directory (`oci:DIR`). Archives have none: a mirror keeps images
 * where tags and referrers can be asked about one at a time.
 */
import { UnsupportedError, UsageError } from "../errors.js";
import { formatLocation, type LayoutLocation, type Location } from "../ref/location.js";
import type { Repository, SignalOption, TransportOptions } from "./types.js";

export { RepositoryBase } from "./repository-base.js";
export { ArchiveRepository } from "./archive/mirror-repository.js";

/**
 * A repository opened for one piece of work, archives included. An
 * oci-archive is staged (unpacked into a layout in TMPDIR, see
 * archive/mirror.ts): `publish` packs what was written back into a new tar
 * renamed over the file, `close` removes the staging folder. Nothing to do
 * for registries and layouts.
 */
export interface StagedRepository {
  repo: Repository;
  publish(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Shared by the repositories of one side of a run: one registry client per
 * registry (and its credentials), and what each registry answered about the
 * referrers API, so it is asked once.
 */
export class RepositoryFactory {
  private registries: import("./registry/repository.js").RegistryRepositories | undefined;

  /** `options(loc)` gives the TransportOptions for a location (credentials per registry). */
  constructor(readonly options: (loc: Location) => TransportOptions = () => ({})) {}

  /** The repository `loc` names (a tag or digest in `loc` is ignored). */
  async open(loc: Location): Promise<Repository> {
    switch (loc.transport) {
      case "docker":
        return (await this.registriesOf()).open(loc);
      case "oci": {
        const { LayoutRepository } = await import("./layout/repository.js");
        return new LayoutRepository({ transport: "oci", path: loc.path }, this.options(loc));
      }
      default:
        throw new UnsupportedError(
          `${formatLocation(loc)}: sync and referrers work with registries and OCI layouts (oci:DIR), not archives`,
        );
    }
  }

  /**
   * `loc`'s repository as `open` gives it, or for an oci-archive its staged
   * layout: the archive's plain tags, or the `REPO:` names of a mirror
   * archive when `loc` names one (`oci-archive:FILE:team/app:1.0`).
   * `readOnly`: an archive is read in place instead (nothing unpacked; it
   * cannot be written, and `publish` refuses).
   */
  async openStaged(loc: Location, how: { readOnly?: boolean } = {}): Promise<StagedRepository> {
    if (loc.transport !== "oci-archive")
      return { repo: await this.open(loc), publish: async () => undefined, close: async () => undefined };
    if (loc.path === "-") throw new UsageError(`${formatLocation(loc)}: referrers need an archive file, not standard input or output`);
    if (how.readOnly) return this.openArchiveInPlace(loc);
    const { MirrorArchive, splitRefName } = await import("./archive/mirror.js");
    const { LayoutRepository } = await import("./layout/repository.js");
    const { ArchiveRepository } = await import("./archive/mirror-repository.js");
    const opts = this.options(loc);
    const archive = await MirrorArchive.open(loc.path, opts, true);
    const file = formatLocation({ transport: "oci-archive", path: loc.path });
    const layout = new LayoutRepository({ transport: "oci", path: archive.layoutPath }, opts, file);
    const name = loc.ref?.kind === "tag" ? splitRefName(loc.ref.tag) : undefined;
    const repo = name
      ? new ArchiveRepository({ transport: "oci-archive", path: loc.path, ref: { kind: "tag", tag: name.repository } }, archive, layout)
      : layout;
    return {
      repo,
      publish: async () => {
        archive.touch();
        await archive.publish(opts);
      },
      close: () => archive.close(),
    };
  }

  /** An oci-archive read where it is (the tar indexed, nothing unpacked): `readOnly` of openStaged. */
  private async openArchiveInPlace(loc: LayoutLocation): Promise<StagedRepository> {
    const { openOciArchive } = await import("./archive/oci-archive.js");
    const { splitRefName } = await import("./archive/mirror.js");
    const { ArchiveReadRepository } = await import("./archive/read-repository.js");
    const { blobs, index, cleanup } = await openOciArchive(loc, this.options(loc));
    const name = loc.ref?.kind === "tag" ? splitRefName(loc.ref.tag) : undefined;
    return {
      repo: new ArchiveReadRepository(loc, blobs, index, name ? `${name.repository}:` : ""),
      publish: () => Promise.reject(new UnsupportedError(`${formatLocation(loc)} was opened for reading`)),
      close: cleanup,
    };
  }

  /** Every repository of a registry (`/v2/_catalog`), through the client its repositories share. */
  async catalog(domain: string, opts: SignalOption = {}): Promise<string[]> {
    return (await this.registriesOf()).catalog(domain, opts.signal);
  }

  private async registriesOf(): Promise<import("./registry/repository.js").RegistryRepositories> {
    if (!this.registries) {
      const { RegistryRepositories } = await import("./registry/repository.js");
      this.registries ??= new RegistryRepositories(this.options);
    }
    return this.registries;
  }
}
