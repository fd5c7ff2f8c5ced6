/**
 * What the resource modules (manifests, blobs, tags, referrers, upload) need
 * of the registry client: its request core. RegistryClient implements it;
 * the modules take it as their first argument, as regclient's
 * scheme/reg/{manifest,blob,tag,referrer}.go take the registry type.
 */
import type { Readable } from "node:stream";
import type { DrayError } from "../../errors.js";
import type { ErrorContext, RegistryErrorEntry } from "./errors.js";
import type { RegistryEndpoint } from "./http/endpoint.js";
import type { HttpMethod, HttpSettings } from "./http/http.js";
import type { HttpResponse } from "./http/response.js";
import type { Scope } from "./scope.js";

export interface CallOptions {
  method: HttpMethod;
  url: URL;
  scopes: readonly Scope[];
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** GET/HEAD only: follow redirects (blob storage), dropping Authorization when the origin changes. */
  followRedirects?: boolean;
  /** One attempt only (best-effort clean-ups that must not delay an error). */
  noRetry?: boolean;
  /** A 5xx whose error body this says is a verdict is not retried, beside those naming a verdict code (errors.ts, isVerdict). */
  refusal?: (entries: readonly RegistryErrorEntry[]) => boolean;
}

export interface UploadOptions {
  monolithicMaxBytes: number;
  chunkSize?: number;
  /** An upload session already opened (a mount answered 202). */
  session?: URL;
  signal?: AbortSignal;
}

export interface RegistryCore {
  readonly domain: string;
  readonly settings: HttpSettings;
  readonly endpoint: RegistryEndpoint;
  /** Manifests larger than this are refused. */
  readonly maxManifestBytes: number;
  readonly uploadOptions: UploadOptions;
  /** Repositories whose manifest PUT answered `OCI-Subject`: the registry indexes subjects there. */
  readonly subjectIndexing: Set<string>;
  /** An API URL (`/v2/` + path). */
  api(path: string, query?: Record<string, string | undefined>): Promise<URL>;
  /** The registry's API base (`/v2/`) on the scheme in use. */
  readonly apiBase: URL;
  /** The scopes for a request on `repo` that needs at least `actions`. */
  scopes(repo: string, ...actions: string[]): Scope[];
  /** `docker://domain/repo` for messages. */
  where(repo: string, ref?: string): string;
  /** One API request, with auth, re-auth, scheme settling and redirects below it. */
  call(o: CallOptions): Promise<HttpResponse>;
  /** Returns when the answer's status is one of `allowed`, else throws its typed error. */
  expectStatus(res: HttpResponse, allowed: readonly number[], ctx: ErrorContext): Promise<void>;
  /** Throws the typed error for an unexpected answer. */
  fail(res: HttpResponse, ctx: ErrorContext, parsed?: DrayError): Promise<never>;
}
