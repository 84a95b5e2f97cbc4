import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from '../generated/http-api.js';

/** Options of `createVectorsyncApi()`. */
export interface VectorsyncApiOptions {
  /** The service's base URL, with the prefix its routes are mounted under if any. */
  url: string | URL;
  /** An API key (sent as `Authorization: Bearer …`). */
  apiKey?: string | undefined;
  /** Acts for this tenant (`x-vectorsync-tenant`): for admin and service keys. */
  tenant?: string | undefined;
  /** Headers added to every request. */
  headers?: Readonly<Record<string, string>>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Every route of the HTTP API, typed from its OpenAPI document (openapi-fetch). */
export type VectorsyncApi = Client<paths>;

/**
 * A low-level client of every route, typed from the service's OpenAPI document: paths,
 * parameters, bodies and answers (errors as `{ error: { code, message, details, requestId } }`)
 * are checked by the compiler. `createVectorsyncClient()` is the friendlier one; this one reaches
 * every route exactly as documented.
 *
 * ```ts
 * const api = createVectorsyncApi({ url: 'http://localhost:8787', apiKey });
 * const { data, error } = await api.POST('/v1/collections/{collection}/search', {
 *   params: { path: { collection: 'products' } },
 *   body: { q: 'linen shirt', k: 5 },
 * });
 * ```
 */
export function createVectorsyncApi(options: VectorsyncApiOptions): VectorsyncApi {
  const baseUrl = String(options.url).replace(/\/+$/, '');
  const client = createClient<paths>({
    baseUrl,
    headers: { ...options.headers },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const credentials: Middleware = {
    onRequest({ request }) {
      if (options.apiKey !== undefined) request.headers.set('authorization', `Bearer ${options.apiKey}`);
      if (options.tenant !== undefined) request.headers.set('x-vectorsync-tenant', options.tenant);
      return request;
    },
  };
  client.use(credentials);
  return client;
}
