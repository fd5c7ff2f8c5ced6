/** Copying an image, a set of tags or a whole repository between locations. */
export { copy, copyAllTags, copyImage, copyTags, type CopyLocationOptions } from "../copy/index.js";
export type * from "../copy/types.js";
