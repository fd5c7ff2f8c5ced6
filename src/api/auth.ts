/** Credentials in the Docker config file (`dray login` / `logout`), and the token realms a registry's login trusted. */
export {
  storeCredential,
  removeCredential,
  dockerConfigPath,
  parseRegistryHost,
  type StoreOptions,
  type StoreResult,
  type RemoveResult,
} from "../auth/login.js";
export { recordTrustedRealms, recordedTrustedRealms } from "../auth/realm-trust.js";
