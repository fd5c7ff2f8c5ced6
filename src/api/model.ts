/** The library's words: typed errors, digests, media types, manifests, platforms, image references and locations, what a transport offers. */
export * from "../errors.js";
export * from "../oci/digest.js";
export * from "../oci/mediatype.js";
export * from "../oci/manifest.js";
export * from "../oci/platform.js";
export * from "../ref/reference.js";
export * from "../ref/location.js";
export type * from "../transport/types.js";
