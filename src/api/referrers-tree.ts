/** What refers to an image (signatures, attestations, SBOMs, and what refers to those), found by every discovery, as a tree. */
export {
  referrersTree,
  type ReferrerNode,
  type ReferrersTree,
  type ReferrersOptions as ReferrersTreeOptions,
} from "../content/referrers.js";
