/**
 * The public library API of vectorsync: `import { openVectorsync } from 'vectorsync'`.
 * Everything else under `dist/` is internal and may change in any release. Subpath exports:
 * `vectorsync/fastify` (the HTTP routes as a Fastify plugin). See docs/library.md.
 *
 * @packageDocumentation
 */

export { type ResolveConfigOptions, resolveConfig } from './config/resolve-config.js';
export { ErrorCode, isVectorsyncError, VectorsyncError, type VectorsyncErrorOptions } from './errors.js';
export { defineConfig } from './library/define-config.js';
export { openVectorsync } from './library/open-vectorsync.js';
export type {
  ApiKeyRecord,
  BudgetStanding,
  CollectionSyncStatus,
  EmbeddingBudget,
  EnqueueRequest,
  IndexAbortRequest,
  IndexAbortResult,
  IndexBuildProgress,
  IndexBuildRequest,
  IndexCleanupReport,
  IndexOperation,
  IndexOperationListeners,
  IndexOperationWarning,
  IndexRecord,
  IndexRehearsalRequest,
  IndexStatus,
  MigrationResult,
  OpenVectorsyncOptions,
  QueryClient,
  ReconcileReport,
  ReconcileRequest,
  ResolvedConfig,
  SearchFusionOverrides,
  SearchMode,
  SearchRequest,
  SearchResponse,
  SearchResultHit,
  ServeOptions,
  SetupRequest,
  SetupResult,
  StartWorkersOptions,
  SyncStatus,
  TransactionClient,
  Vectorsync,
  VectorsyncApiKeys,
  VectorsyncBudgets,
  VectorsyncConfigInput,
  VectorsyncConfigSource,
  VectorsyncIndexes,
  VectorsyncService,
  VectorsyncWorkers,
} from './library/vectorsync-api.js';
export type { LogFields, Logger } from './logger.js';
export { enqueueChange } from './outbox/app-enqueue.js';
