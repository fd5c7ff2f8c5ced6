/**
 * Assembling and amending images (issue 29): an index from images anywhere
 * (`index create|append|remove`), a rewritten config or annotations
 * (`mutate`), layers added on top (`append`). Each builds the new documents
 * and writes them through the copy engine as a composed source.
 */
export { createIndex, appendToIndex, removeFromIndex, type IndexOptions, type IndexResult, type IndexEntry } from "./image-index.js";
export { ComposedSource } from "./source.js";
export type { AssembleOptions } from "./write.js";
export {
  mutate,
  parseAnnotation,
  type MutateOptions,
  type MutateResult,
  type TargetedAnnotation,
  type AnnotationTarget,
} from "./mutate.js";
export type { ManifestChange } from "./rewrite.js";
export { parseCreated, sourceDateEpoch } from "./time.js";
export { append, SCRATCH, type AppendOptions, type AppendResult, type AppendedLayer } from "./append.js";
