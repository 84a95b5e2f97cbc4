/**
 * `vectorsync/client`: a typed client of the vectorsync HTTP service, for applications that talk
 * to a service running elsewhere rather than open vectorsync themselves. It needs only `fetch`
 * (Node 20, browsers, edge runtimes): no database driver, no Fastify.
 *
 * ```ts
 * import { createVectorsyncClient } from 'vectorsync/client';
 *
 * const client = createVectorsyncClient({ url: 'http://localhost:8787', apiKey: process.env.VECTORSYNC_KEY });
 * const { hits } = await client.search({ collection: 'products', query: 'linen shirt', k: 5 });
 * ```
 *
 * @packageDocumentation
 */
export { ErrorCode, isVectorsyncError, VectorsyncError } from './errors.js';
export type { components as HttpApiComponents, paths as HttpApiPaths } from './generated/http-api.js';
export {
  createVectorsyncApi,
  type VectorsyncApi,
  type VectorsyncApiOptions,
} from './library/api-client.js';
export {
  type ClientSearchRequest,
  createVectorsyncClient,
  type DocumentWriteResult,
  type IndexOperationSummary,
  type IndexWriteOutcome,
  type OutboxEvent,
  type ReadyStatus,
  type RequestOptions,
  type SourceDocument,
  type SyncEventsPage,
  type VectorsyncClient,
  type VectorsyncClientOptions,
  VectorsyncHttpError,
} from './library/http-client.js';
export type {
  CollectionSyncStatus,
  IndexStatus,
  ReconcileReport,
  SearchFusionOverrides,
  SearchMode,
  SearchResponse,
  SearchResultHit,
  SyncStatus,
} from './library/vectorsync-api.js';
export type { CollectionDescription } from './server/routes/collection-routes.js';
