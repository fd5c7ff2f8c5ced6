/** One blob or manifest of an image, by digest, read through a stream that checks its digest. */
export { openVerifiedBlob, type VerifiedBlob } from "../content/blob.js";
