/** Assembling images: a multi-platform index built or edited, an image's config and annotations changed, layers appended. */
export { createIndex, appendToIndex, removeFromIndex, type IndexOptions, type IndexResult, type IndexEntry } from "../assemble/index.js";
export type { AssembleOptions } from "../assemble/index.js";
export {
  mutate,
  parseAnnotation,
  parseCreated,
  sourceDateEpoch,
  type MutateOptions,
  type MutateResult,
  type ManifestChange,
} from "../assemble/index.js";
export type { TargetedAnnotation, AnnotationTarget } from "../assemble/index.js";
export { append, SCRATCH, type AppendOptions, type AppendResult, type AppendedLayer } from "../assemble/index.js";
