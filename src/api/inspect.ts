/** Reading an image's manifest, config and skopeo-style summary, and the digest a location names. */
export {
  inspect,
  inspectRaw,
  inspectConfig,
  inspectConfigRaw,
  manifestDigest,
  SUMMARY_OPTIONAL_FIELDS,
  type InspectOptions,
  type ImageSummary,
  type IndexSummary,
  type IndexEntrySummary,
  type LayerData,
} from "../inspect/index.js";
