/**
 * Signatures: verifying an image against a policy (src/api/policy.ts), signing
 * it, signing on copy. Formats: cosign simple signing (`.sig` tags), Sigstore
 * bundles v0.1-v0.3 (referrers), notation JWS envelopes.
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
} from "../signature/verify.js";
export {
  makeBundle,
  resignHook,
  signImage,
  signManifest,
  signOnCopy,
  SIGN_FORMATS,
  type CopySigner,
  type Resign,
  type SignatureWritten,
  type SignFormat,
  type SignOptions,
  type SignResult,
} from "../signature/sign.js";
export {
  loadSigningKey,
  parseSigningKey,
  passwordFromEnv,
  signBytes,
  type PasswordSource,
  type SigningKey,
} from "../signature/signing-key.js";
