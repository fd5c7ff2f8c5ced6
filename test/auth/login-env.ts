// An empty HOME for CLI runs of login/logout and the commands that read what they stored.
import { join } from "node:path";
import { homeEnv } from "../helpers/home.js";
import { makeTempDir } from "../helpers/tmp.js";

/** A fresh HOME with nothing in it: no docker config, no containers auth.json, no keychain session. */
export function isolatedEnv(): { env: NodeJS.ProcessEnv; configPath: string } {
  const home = makeTempDir("dray-login-home-");
  return {
    env: {
      ...homeEnv(home),
      REGISTRY_AUTH_FILE: undefined,
      DBUS_SESSION_BUS_ADDRESS: undefined,
      DISPLAY: undefined,
    },
    configPath: join(home, ".docker", "config.json"),
  };
}
