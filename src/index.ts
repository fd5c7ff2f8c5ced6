/**
 * The dray library: everything the CLI does is importable from here. It is
 * the union of the public modules in src/api/, one per concern; the CLI's
 * commands import those (not this file), so the bundled `dray inspect` loads
 * what inspecting needs and not the whole library (test/architecture.test.ts).
 */
export * from "./api/model.js";
export * from "./api/transport.js";
export * from "./api/auth.js";
export * from "./api/copy.js";
export * from "./api/inspect.js";
export * from "./api/content.js";
export * from "./api/blob.js";
export * from "./api/referrers-tree.js";
export * from "./api/referrers.js";
export * from "./api/policy.js";
export * from "./api/signature.js";
export * from "./api/assemble.js";
export * from "./api/sync.js";
