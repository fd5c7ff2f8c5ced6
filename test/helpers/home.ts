// The environment of a CLI run under a HOME of its own: dray reads credentials and keeps state only there.
import { join } from "node:path";

/** HOME and the folders dray derives from it (docker config, XDG config and runtime), all under `home`. */
export function homeEnv(home: string): NodeJS.ProcessEnv {
  return {
    HOME: home,
    DOCKER_CONFIG: join(home, ".docker"),
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_RUNTIME_DIR: join(home, "run"),
  };
}
