/**
 * Signatures: `dray verify` and the gate of copy and sync. Formats: cosign
 * simple signing (`.sig` tags), Sigstore bundles v0.1-v0.3 (referrers), notation
 * JWS envelopes. Trust: keys, keyless identities against a trusted root, a
 * notation trust store, or a containers-policy.json. Signing: `dray sign`
 * and re-signing on copy and sync (keys, bundles, cosign .sig).
 */
export {
  assertVerified,
  verifyImage,
  MAX_LAYERS_PER_SIGNATURE_MANIFEST,
  MAX_SIGNATURE_BLOB_BYTES,
  MAX_SIGNATURE_MANIFESTS,
  type ImageVerification,
  type SignatureCheck,
  type SignatureKind,
  type VerifyImageOptions,
} from "./verify.js";
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
} from "./policy.js";
export { checkSignedIdentity, parseSignedIdentity, type SignedIdentity } from "./identity.js";
export { keyFingerprint, loadPublicKey, loadTrustedRoot, parsePublicKey, type TrustedKey } from "./trust.js";
export {
  makeBundle,
  resignHook,
  signImage,
  signManifest,
  SIGN_FORMATS,
  type Resign,
  type SignatureWritten,
  type SignFormat,
  type SignOptions,
  type SignResult,
} from "./sign.js";
export { loadSigningKey, parseSigningKey, passwordFromEnv, signBytes, type PasswordSource, type SigningKey } from "./signing-key.js";
