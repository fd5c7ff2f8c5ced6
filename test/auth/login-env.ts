// An empty HOME for CLI runs of login/logout and the commands that read what they stored.
import { join } from "node:path";
import { makeTempDir } from "../helpers/tmp.js";

/** A fresh HOME with nothing in it: no docker config, no containers auth.json, no keychain session. */
export function isolatedEnv(): { env: NodeJS.ProcessEnv; configPath: string } {
  const home = makeTempDir("dray-login-home-");
  return {
    env: {
      HOME: home,
      DOCKER_CONFIG: join(home, ".docker"),
      XDG_RUNTIME_DIR: join(home, "run"),
      XDG_CONFIG_HOME: join(home, ".config"),
      REGISTRY_AUTH_FILE: undefined,
      DBUS_SESSION_BUS_ADDRESS: undefined,
      DISPLAY: undefined,
    },
    configPath: join(home, ".docker", "config.json"),
  };
}
