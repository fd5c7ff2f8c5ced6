/** The dray library: everything the CLI does is importable from here. */
export * from "./errors.js";
export * from "./oci/digest.js";
export * from "./oci/mediatype.js";
export * from "./oci/manifest.js";
export * from "./oci/platform.js";
export * from "./ref/reference.js";
export * from "./ref/location.js";
export type * from "./transport/types.js";
