/** Signature policy: which signatures an image needs (keys, keyless identities, a containers-policy.json), from flags or a file. */
export {
  hasTrustFlags,
  loadPolicyFile,
  parsePolicy,
  policyFromFlags,
  requirementsFor,
  type IdentityMatcher,
  type Requirement,
  type SignaturePolicy,
  type SignedRequirement,
  type TrustFlags,
} from "../signature/policy.js";
export { checkSignedIdentity, parseSignedIdentity, type SignedIdentity } from "../signature/identity.js";
export { keyFingerprint, loadPublicKey, loadTrustedRoot, parsePublicKey, type TrustedKey } from "../signature/trust.js";
