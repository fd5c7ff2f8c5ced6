import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** `dray logout HOST`: removes the host's credential from docker config.json and, when it was there, the OS keychain. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command("logout")
    .description("remove the stored credential for a registry (config.json entry and keychain secret)")
    .argument("<host>", "registry host[:port]")
    .action(async (host: string) => {
      const { parseRegistryHost, removeCredential } = await import("../../auth/login.js");
      const { recordedTrustedRealms, recordTrustedRealms } = await import("../../auth/realm-trust.js");
      const registry = parseRegistryHost(host);
      const result = await removeCredential(registry);
      // The trust `dray login --trust-realm` recorded belongs to the login: it goes with it.
      if ((await recordedTrustedRealms(registry)).length > 0) await recordTrustedRealms(registry, []);
      if (result.removedKeys.length === 0) {
        ctx.message(`Not logged in to ${host}`);
        return;
      }
      if (result.keychainError !== undefined) ctx.message(`warning: ${result.keychainError}; the secret may still be in the keychain`);
      ctx.message(`Removed login credentials for ${host} from ${result.configPath}${result.keychainRemoved > 0 ? " and the OS keychain" : ""}`);
    });
}
