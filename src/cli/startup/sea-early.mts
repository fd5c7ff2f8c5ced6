/**
 * The single executable's first module (sea.mts imports it before anything else): the early stop listener goes
 * on before the rest of the bundle is evaluated, as bin/dray.cjs puts it on before it loads the CLI. Not while a
 * start-up snapshot is built (a signal handle is no part of a snapshot): sea.mts's run() puts it on then.
 */
import { startupSnapshot } from "node:v8";
import { installEarlyStop } from "./stop-signals.cjs";

if (!startupSnapshot.isBuildingSnapshot()) installEarlyStop();
