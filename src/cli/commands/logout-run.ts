import { parseRegistryHost, recordedTrustedRealms, recordTrustedRealms, removeCredential } from "../../api/auth.js";
import type { CliContext } from "../context.js";

/** The body of `dray logout`, loaded only when it runs. */
export async function runLogout(ctx: CliContext, host: string): Promise<void> {
  const registry = parseRegistryHost(host);
  const result = await removeCredential(registry);
  // The trust `dray login --trust-realm` recorded belongs to the login: it goes with it.
  const trusted = await recordedTrustedRealms(registry);
  if (trusted.length > 0) await recordTrustedRealms(registry, []);
  const forgot = trusted.length > 0 ? `; forgot the recorded trust in ${trusted.join(", ")} (dray login --trust-realm)` : "";
  if (result.removedKeys.length === 0) {
    ctx.message(`Not logged in to ${host}${forgot}`);
    return;
  }
  if (result.keychainError !== undefined) ctx.message(`warning: ${result.keychainError}; the secret may still be in the keychain`);
  ctx.message(
    `Removed login credentials for ${host} from ${result.configPath}${result.keychainRemoved > 0 ? " and the OS keychain" : ""}${forgot}`,
  );
}
