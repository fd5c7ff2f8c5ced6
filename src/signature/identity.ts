// What a signature's signed identity (cosign's `critical.identity.docker-reference`)
// must say about the image, as containers-policy.json(5)'s `signedIdentity`
// spells it; containers/image's policy_reference_match.go is the model.
import { UsageError } from "../errors.js";
import { isObject } from "../json.js";
import { parseReference, quote, repositoryName, type ImageReference } from "../ref/reference.js";

export type SignedIdentity =
  | { type: "matchExact" }
  | { type: "matchRepoDigestOrExact" }
  | { type: "matchRepository" }
  | { type: "exactReference"; dockerReference: string }
  | { type: "exactRepository"; dockerRepository: string }
  | { type: "remapIdentity"; prefix: string; signedPrefix: string };

function parseRef(text: string, what: string): ImageReference {
  try {
    return parseReference(text);
  } catch {
    throw new UsageError(`signedIdentity: ${what} ${quote(text)} is not a docker reference`);
  }
}

/** Parses a policy's `signedIdentity` object; unknown types are usage errors. */
export function parseSignedIdentity(v: unknown, where: string): SignedIdentity {
  if (!isObject(v) || typeof v.type !== "string") throw new UsageError(`${where}: signedIdentity must be an object with a "type"`);
  switch (v.type) {
    case "matchExact":
    case "matchRepoDigestOrExact":
    case "matchRepository":
      return { type: v.type };
    case "exactReference":
      if (typeof v.dockerReference !== "string") throw new UsageError(`${where}: exactReference needs "dockerReference"`);
      parseRef(v.dockerReference, "dockerReference");
      return { type: "exactReference", dockerReference: v.dockerReference };
    case "exactRepository":
      if (typeof v.dockerRepository !== "string") throw new UsageError(`${where}: exactRepository needs "dockerRepository"`);
      parseRef(v.dockerRepository, "dockerRepository");
      return { type: "exactRepository", dockerRepository: v.dockerRepository };
    case "remapIdentity":
      if (typeof v.prefix !== "string" || typeof v.signedPrefix !== "string")
        throw new UsageError(`${where}: remapIdentity needs "prefix" and "signedPrefix"`);
      return { type: "remapIdentity", prefix: v.prefix, signedPrefix: v.signedPrefix };
    default:
      throw new UsageError(`${where}: unknown signedIdentity type ${quote(v.type)}`);
  }
}

/** `domain/path[:tag][@digest]` with the tag and digest the reference has, and nothing added. */
function exactText(r: ImageReference): string {
  return `${repositoryName(r)}${r.tag !== undefined ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** containers/image's prmMatchRepoDigestOrExact: a tagged image needs the exact tag signed, a digest one the repository. */
function repoDigestOrExact(image: ImageReference, signed: ImageReference): boolean {
  if (signed.tag === undefined && signed.digest === undefined) return false;
  if (image.digest !== undefined && image.tag === undefined) return repositoryName(signed) === repositoryName(image);
  return exactText(signed) === exactText(image);
}

/**
 * Undefined when `signedText` (the signature's docker-reference) is what
 * `rule` allows for `image` (the reference the image is read under; undefined
 * for a layout, which has none), else why not.
 */
export function checkSignedIdentity(rule: SignedIdentity, image: ImageReference | undefined, signedText: string): string | undefined {
  let signed: ImageReference;
  try {
    signed = parseReference(signedText);
  } catch {
    return `signed identity ${quote(signedText)} is not a docker reference`;
  }
  const mismatch = (want: string): string => `signed for ${signedText}, not ${want}`;
  switch (rule.type) {
    case "exactReference": {
      const want = parseReference(rule.dockerReference);
      return exactText(signed) === exactText(want) ? undefined : mismatch(rule.dockerReference);
    }
    case "exactRepository": {
      const want = parseReference(rule.dockerRepository);
      return repositoryName(signed) === repositoryName(want) ? undefined : mismatch(repositoryName(want));
    }
    default:
      break;
  }
  if (!image) return `signed for ${signedText}; a layout has no repository name to match it (give --signed-identity REPO)`;
  switch (rule.type) {
    case "matchRepository":
      return repositoryName(signed) === repositoryName(image) ? undefined : mismatch(repositoryName(image));
    case "matchExact":
      return exactText(signed) === exactText(image) ? undefined : mismatch(exactText(image));
    case "matchRepoDigestOrExact":
      return repoDigestOrExact(image, signed) ? undefined : mismatch(exactText(image));
    case "remapIdentity": {
      const name = exactText(image);
      const remapped = name.startsWith(rule.prefix) ? parseReference(rule.signedPrefix + name.slice(rule.prefix.length)) : image;
      return repoDigestOrExact(remapped, signed) ? undefined : mismatch(exactText(remapped));
    }
  }
}
