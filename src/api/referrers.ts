/** Referrers (signatures, attestations, SBOMs): copied with their images, attached to one, pushed as an artifact. */
export { copyReferrersOf, type ReferrersSummary } from "../referrers/index.js";
export {
  attach,
  parseAttachFile,
  pushReferrer,
  type AttachFile,
  type AttachOptions,
  type AttachResult,
  type PushReferrerOptions,
  type PushReferrerResult,
  type ReferrerBlob,
  type ReferrerContent,
} from "../referrers/attach.js";
