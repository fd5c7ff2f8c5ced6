// The `docker save` / `docker load` archive format (moby image/spec v1.2
// "combined image JSON + filesystem changeset format"): manifest.json, the
// legacy `repositories` file and per-layer folders. Parsing treats every
// string as hostile; generation is deterministic. No I/O here.
import { IntegrityError } from "../../errors.js";
import { familiarReference, parseReference, withDefaultTag, type ImageReference } from "../../ref/reference.js";
import { normaliseEntryName } from "./entry-name.js";
import { isObject } from "../../json.js";
import { defined } from "../../defined.js";

/** A real manifest.json lists a few images; anything near this is not one. */
export const MAX_MANIFEST_JSON_BYTES = 4 * 1024 * 1024;

/** One image of manifest.json, paths normalised and checked. */
export interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
  /**
   * Foreign layers by diff_id: the descriptor the image's manifest gave each (media type,
   * size, digest, urls), as `docker save` writes it (moby image/tarexport/save.go), so
   * `docker load` registers the layer as foreign again and a push keeps it at its URLs.
   */
  LayerSources?: Record<string, LayerSource>;
}

/** A manifest.json LayerSources value: the distribution descriptor of a foreign layer. */
export interface LayerSource {
  mediaType: string;
  size: number;
  digest: string;
  urls?: string[];
  annotations?: Record<string, string>;
}

function invalid(message: string, where: string): IntegrityError {
  return new IntegrityError(`${message} (${where})`, { code: "E_MANIFEST_INVALID", where });
}

/** Parses manifest.json; paths with `..` or absolute paths are refused (E_UNSAFE_INPUT), not cleaned. */
export function parseManifestJson(bytes: Uint8Array, where: string): ManifestItem[] {
  if (bytes.length > MAX_MANIFEST_JSON_BYTES) {
    throw new IntegrityError(`manifest.json is larger than the ${MAX_MANIFEST_JSON_BYTES}-byte limit (${where})`, {
      code: "E_TOO_LARGE",
      where,
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw invalid("manifest.json is not valid JSON", where);
  }
  if (!Array.isArray(doc)) throw invalid("manifest.json is not a JSON array", where);
  return doc.map((item: unknown, i: number) => parseItem(item, `${where} manifest.json[${i}]`));
}

function parseItem(item: unknown, where: string): ManifestItem {
  if (!isObject(item)) throw invalid("entry is not an object", where);
  if (typeof item.Config !== "string") throw invalid("Config must be a string", where);
  const tags = item.RepoTags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) throw invalid("RepoTags must be an array of strings", where);
  if (!Array.isArray(item.Layers) || item.Layers.some((l) => typeof l !== "string"))
    throw invalid("Layers must be an array of strings", where);
  const sources = item.LayerSources === undefined || item.LayerSources === null ? undefined : parseLayerSources(item.LayerSources, where);
  return {
    Config: archivePath(item.Config, where),
    RepoTags: tags as string[],
    Layers: (item.Layers as string[]).map((l) => archivePath(l, where)),
    ...defined({ LayerSources: sources }),
  };
}

const DIGEST_SHAPE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

function parseLayerSources(v: unknown, where: string): Record<string, LayerSource> {
  if (!isObject(v)) throw invalid("LayerSources must be an object", where);
  const out: Record<string, LayerSource> = {};
  for (const [diffId, d] of Object.entries(v)) {
    const at = `${where} LayerSources[${JSON.stringify(diffId)}]`;
    if (!DIGEST_SHAPE.test(diffId)) throw invalid("LayerSources keys must be diff_ids", at);
    if (!isObject(d) || typeof d.mediaType !== "string" || typeof d.digest !== "string" || !DIGEST_SHAPE.test(d.digest))
      throw invalid("a LayerSources value must be a descriptor (mediaType, size, digest)", at);
    if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid("size must be a non-negative integer", at);
    if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== "string")))
      throw invalid("urls must be an array of strings", at);
    if (d.annotations !== undefined && (!isObject(d.annotations) || Object.values(d.annotations).some((a) => typeof a !== "string")))
      throw invalid("annotations must map strings to strings", at);
    out[diffId] = {
      mediaType: d.mediaType,
      size: d.size,
      digest: d.digest,
      ...(d.urls !== undefined ? { urls: d.urls as string[] } : {}),
      ...(d.annotations !== undefined ? { annotations: d.annotations as Record<string, string> } : {}),
    };
  }
  return out;
}

/** A path named by manifest.json, as a normalised archive entry name. */
function archivePath(p: string, where: string): string {
  const name = normaliseEntryName(p, where);
  if (name === "") throw invalid(`empty path ${JSON.stringify(p)}`, where);
  return name;
}

export function serializeManifestJson(items: ManifestItem[]): Buffer {
  return Buffer.from(
    JSON.stringify(
      items.map((i) => ({
        Config: i.Config,
        RepoTags: i.RepoTags,
        Layers: i.Layers,
        ...(i.LayerSources && Object.keys(i.LayerSources).length > 0 ? { LayerSources: i.LayerSources } : {}),
      })),
    ),
  );
}

/** A RepoTag as `docker save` writes it: familiar form, `alpine:latest`, `localhost:5000/x:tag`. */
export function formatRepoTag(ref: ImageReference): string {
  const { domain, path, tag } = withDefaultTag({ domain: ref.domain, path: ref.path, ...defined({ tag: ref.tag }) });
  return familiarReference({ domain, path, tag: tag! });
}

/** A RepoTag parsed back into a reference, or undefined when it is not one (an archive may hold junk; it is then just not selectable). */
export function parseRepoTag(text: string): ImageReference | undefined {
  try {
    const ref = withDefaultTag(parseReference(text));
    return ref.digest === undefined ? ref : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `tag` (a RepoTag) names the same image reference as `ref`. */
export function repoTagMatches(tag: string, ref: ImageReference): boolean {
  const parsed = parseRepoTag(tag);
  return parsed !== undefined && formatRepoTag(parsed) === formatRepoTag(ref);
}

/**
 * The legacy `repositories` file: repository → tag → top layer, for every
 * RepoTag: the folder ID of a `<id>/layer.tar`, or the hex of a
 * `blobs/ALG/HEX` layer, as Docker 25+ writes it (moby
 * daemon/internal/image/tarexport/save.go). docker load reads it only for
 * archives without manifest.json; it is kept for old tools.
 */
export function repositoriesFile(items: ManifestItem[]): Buffer | undefined {
  const out: Record<string, Record<string, string>> = {};
  for (const item of items) {
    const top = item.Layers.at(-1);
    const m = top === undefined ? null : (/^([a-f0-9]{64})\/layer\.tar$/.exec(top) ?? /^blobs\/[a-z0-9]+\/([a-f0-9]+)$/.exec(top));
    if (!m) continue;
    for (const t of item.RepoTags) {
      const ref = parseRepoTag(t);
      if (!ref) continue;
      const repo = familiarReference({ domain: ref.domain, path: ref.path });
      (out[repo] ??= {})[ref.tag!] = m[1]!;
    }
  }
  return Object.keys(out).length > 0 ? Buffer.from(JSON.stringify(out)) : undefined;
}
