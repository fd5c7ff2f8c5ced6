/**
 * Repositories (the optional face of transports/types.ts) for sync and
 * referrer copying: a registry repository (`docker://host/repo`) or an OCI
 * layout directory (`oci:DIR`). Archives have none: a mirror keeps images
 * where tags and referrers can be asked about one at a time.
 */
import { UnsupportedError } from "../errors.js";
import { formatLocation, type Location } from "../ref/location.js";
import type { Repository, SignalOption, TransportOptions } from "./types.js";

export { RepositoryBase } from "./repository-base.js";

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
