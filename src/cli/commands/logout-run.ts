import { parseRegistryHost, removeCredential } from "../../auth/login.js";
import type { CliContext } from "../context.js";

/** The body of `dray logout`, loaded only when it runs. */
export async function runLogout(ctx: CliContext, host: string): Promise<void> {
  const result = await removeCredential(parseRegistryHost(host));
  if (result.removedKeys.length === 0) {
    ctx.message(`Not logged in to ${host}`);
    return;
  }
  if (result.keychainError !== undefined) ctx.message(`warning: ${result.keychainError}; the secret may still be in the keychain`);
  ctx.message(`Removed login credentials for ${host} from ${result.configPath}${result.keychainRemoved > 0 ? " and the OS keychain" : ""}`);
}
