/** An image's filesystem (its layers merged): exported as one tar, one file read, or its files listed. */
export { exportFilesystem, type ContentOptions } from "../content/export.js";
export { catFile, listFiles, type ListedEntry } from "../content/cat.js";
