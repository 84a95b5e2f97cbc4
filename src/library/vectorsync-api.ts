/**
 * The types of the public library API (`import … from 'vectorsync'`). Each is either declared
 * here or a documented alias of the type the lower layers use, so the names users depend on stay
 * stable while the internals move. Nothing here exposes a class whose constructor takes
 * internals: everything is reached through `openVectorsync()`.
 */
import type { FastifyInstance } from 'fastify';
import type { ConfigInput, SearchSettings } from '../config/config-schema.js';
import type { ResolvedConfig as InternalResolvedConfig } from '../config/resolve-config.js';
import type {
  BudgetStanding as InternalBudgetStanding,
  EmbeddingBudget as InternalEmbeddingBudget,
} from '../costs/embedding-budgets.js';
import type { MigrationResult as InternalMigrationResult } from '../db/migrator.js';
import type { IndexRecord as InternalIndexRecord } from '../index-versions/index-catalog.js';
import type { BuildProgress } from '../indexops/build-progress.js';
import type { AbortResult } from '../indexops/index-abort.js';
import type { IndexStatus as InternalIndexStatus } from '../indexops/index-status.js';
import type { CleanupReport } from '../indexops/interrupted-operations.js';
import type {
  IndexOperation as InternalIndexOperation,
  OperationWarning,
} from '../indexops/operation-history.js';
import type { IndexOperationRequest } from '../indexops/operation-request.js';
import type { RehearsalRequest } from '../indexops/rehearsal.js';
import type { Logger } from '../logger.js';
import type { EnqueueRequest as OutboxEnqueueRequest } from '../outbox/app-enqueue.js';
import type { QueryClient, TransactionClient } from '../outbox/transaction-client.js';
import type { ReconcileOptions } from '../reconcile/reconcile-collection.js';
import type { ReconcileReport as InternalReconcileReport } from '../reconcile/reconcile-report.js';
import type {
  SearchMode as InternalSearchMode,
  SearchResponse as InternalSearchResponse,
  SearchResultHit as InternalSearchResultHit,
} from '../search/search-service.js';
import type { ApiKeyRecord as InternalApiKeyRecord } from '../server/api-keys.js';
import type { SyncStatus as InternalSyncStatus } from '../status/sync-status.js';
import type { SetupResult as InternalSetupResult, SetupOptions } from '../sync/setup-collections.js';

/**
 * A vectorsync configuration as you write it (in code or in `vectorsync.config.json`): every
 * option with a default may be left out. See docs/configuration.md for every key.
 */
export type VectorsyncConfigInput = ConfigInput;

/**
 * A configuration after validation: defaults applied, environment overrides (`DATABASE_URL`,
 * `VECTOR_DATABASE_URL`, `PORT`, `HOST`) merged in, deeply frozen. `configPath` is set when it
 * was read from a file.
 */
export type ResolvedConfig = InternalResolvedConfig;

/** Where `openVectorsync()` gets its configuration: a config object, or the path of a config file (.json, .js, .mjs). */
export type VectorsyncConfigSource = VectorsyncConfigInput | string | URL;

/** Options of `openVectorsync()`. */
export interface OpenVectorsyncOptions {
  /**
   * Apply pending schema migrations (the `vectorsync` schema) before opening. Default false: a
   * database without them fails with `MIGRATIONS_PENDING`, as the CLI does. Migrations are
   * advisory-locked, so concurrent processes may all pass `true`.
   */
  migrate?: boolean;
  /**
   * Where vectorsync logs (pino-compatible: `logger.info(fields, message)`); default: nowhere.
   * The library never writes to the console.
   */
  logger?: Logger;
  /**
   * The environment to read overrides (`DATABASE_URL`, `VECTOR_DATABASE_URL`, `PORT`, `HOST`),
   * the config path (`VECTORSYNC_CONFIG`) and embedder API keys from. Default `process.env`;
   * pass `{}` to use the config alone.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** What the applied schema migrations were and where the schema stands now. */
export type MigrationResult = InternalMigrationResult;

/** Options of `vectorsync.setup()`: only some `collections`; `rebuild` builds a new index version from the source. */
export type SetupRequest = SetupOptions;

/** What `setup()` did for one collection: its index, whether it was created, the rows enqueued to build it. */
export type SetupResult = InternalSetupResult;

/** The physical index of a collection as vectorsync records it (`SetupResult.index`). */
export type IndexRecord = InternalIndexRecord;

/**
 * One source row that changed: `id` is the row's primary key as text, `tenant` its tenant
 * column. `op` defaults to `upsert`; a `delete` may carry the `version` deleted.
 */
export type EnqueueRequest = OutboxEnqueueRequest;

/**
 * Any client with node-postgres' `query(text, values)`: `pg.Client`, `pg.PoolClient`, `pg.Pool`,
 * PGlite, or your ORM's underlying client. Pass the client of your open transaction to enqueue a
 * change atomically with the write.
 */
export type { QueryClient, TransactionClient };

/** Semantic (dense vectors), keyword (BM25) or hybrid (both, fused). */
export type SearchMode = InternalSearchMode;

/** Per-request overrides of the collection's hybrid-search settings. */
export type SearchFusionOverrides = Partial<
  Pick<SearchSettings, 'fusion' | 'rrfK' | 'weights' | 'normalization'>
>;

/** A tenant-scoped search of one collection (the same fields as `GET /v1/collections/:collection/search`). */
export interface SearchRequest {
  collection: string;
  /** The only tenant whose documents can be returned. */
  tenant: string;
  /** The query text (at most 4,096 characters). */
  query: string;
  /** Default `hybrid`. */
  mode?: SearchMode;
  /** Hits per page, 1 to 1,000 (default 10). */
  k?: number;
  /** Hits to skip (offset + k ≤ 1,000); or pass `cursor` instead. */
  offset?: number;
  /** `next` of the previous page's response. */
  cursor?: string;
  /**
   * A filter on the collection's payload fields, as an object or as its JSON text, e.g.
   * `{ price: { lt: 30 }, color: { in: ['White', 'Yellow'] } }` (docs/search.md#filters).
   */
  filter?: Record<string, unknown> | string;
  /** Add each hit's rank and score per signal. */
  explain?: boolean;
  fusion?: SearchFusionOverrides;
}

/** One page of search results; `next` is the cursor of the following page, or null. */
export type SearchResponse = InternalSearchResponse;

/** One search hit: the document's id (source primary key), score, indexed version and payload fields. */
export type SearchResultHit = InternalSearchResultHit;

/** Queue depth, age, lag and the last error per collection; sync workers; the CDC slot. */
export type SyncStatus = InternalSyncStatus;

/** One collection's entry of `SyncStatus.collections`. */
export type CollectionSyncStatus = SyncStatus['collections'][number];

/** Options of `vectorsync.reconcile()`. */
export type ReconcileRequest = Pick<
  ReconcileOptions,
  'collection' | 'tenant' | 'mode' | 'settings' | 'signal' | 'onProgress' | 'onAction'
>;

/** What a reconciliation found (missing, orphaned, stale, unbuildable records) and, with `mode: 'fix'`, repaired. */
export type ReconcileReport = InternalReconcileReport;

/** Callbacks that follow a running index operation (what the CLI's progress bar shows). */
export interface IndexOperationListeners {
  /** The operation is recorded and about to start. */
  onStart?: (operation: IndexOperation) => void;
  /** `label` says which build: "build", "rehearsal 5000 rows", "verification copy". */
  onProgress?: (progress: IndexBuildProgress, label: string) => void;
  onWarning?: (warning: IndexOperationWarning) => void;
  onStep?: (step: string) => void;
}

/** An ANN index build (`indexes.build`) or blue/green rebuild (`indexes.rebuild`). */
export type IndexBuildRequest = Omit<IndexOperationRequest, 'onStart'> & IndexOperationListeners;

/** A rehearsal: builds on samples of the current rows to predict the full build (`indexes.rehearse`). */
export type IndexRehearsalRequest = IndexBuildRequest & Pick<RehearsalRequest, 'sizes' | 'sampleRows'>;

/** Aborting a collection's running index operation, from any process. */
export interface IndexAbortRequest {
  collection: string;
  reason?: string;
  requestedBy?: string;
  /** How long to wait for the owner to clean up (ms). */
  waitMs?: number;
}

/** One recorded index operation: who, scope, parameters, progress, outcome. */
export type IndexOperation = InternalIndexOperation;

/** Progress of a running build: phase, fraction, rows, rate and ETA. */
export type IndexBuildProgress = BuildProgress;

/** A warning an index operation raised while it ran (e.g. slower than predicted). */
export type IndexOperationWarning = OperationWarning;

/** A collection's ANN indexes, its running operation, the last operation and rehearsal, and problems. */
export type IndexStatus = InternalIndexStatus;

/** How an abort ended: the operation, and whether it was honoured (a rebuild past its swap is finished). */
export type IndexAbortResult = AbortResult;

/** What cleaning up after interrupted operations recovered and dropped. */
export type IndexCleanupReport = CleanupReport;

/** Safe index operations on a collection's ANN indexes (docs/index-operations.md). */
export interface VectorsyncIndexes {
  /** Read-only: the collection's ANN indexes and operations (cleans up after crashed operations first). */
  status(collection: string): Promise<IndexStatus>;
  /** Recorded operations, newest first. */
  history(options?: { collection?: string; limit?: number; beforeId?: number }): Promise<IndexOperation[]>;
  /** Builds an ANN index for a scope without one, `CONCURRENTLY` unless `blocking` with a `reason`. */
  build(request: IndexBuildRequest): Promise<IndexOperation>;
  /** Blue/green: a new index beside the old, verified, then the old one dropped. */
  rebuild(request: IndexBuildRequest): Promise<IndexOperation>;
  /** Builds on samples of the current rows to predict the full build's time, size and memory. */
  rehearse(request: IndexRehearsalRequest): Promise<IndexOperation>;
  /** Aborts the collection's running operation, wherever it runs. */
  abort(request: IndexAbortRequest): Promise<IndexAbortResult>;
  /** Finishes operations whose owner died and drops what they left (idempotent). */
  cleanUp(collection?: string): Promise<IndexCleanupReport>;
}

/** An API key as stored: never the key itself, only its prefix. */
export type ApiKeyRecord = InternalApiKeyRecord;

/** An embedding budget as stored: a collection's (tenant '') or one tenant's, per UTC day or month. */
export type EmbeddingBudget = InternalEmbeddingBudget;
/** A budget with what its scope spent this period, and whether that holds embedding back. */
export type BudgetStanding = InternalBudgetStanding;

/** Embedding budgets (docs/embedders.md#budgets): what `vectorsync budget` does. */
export interface VectorsyncBudgets {
  /** Sets, raises or lowers a budget; work it held back is due again at once. */
  set(budget: {
    collection: string;
    tenant?: string;
    period: 'day' | 'month';
    limitUsd: number;
  }): Promise<void>;
  /** Each budget (of one collection, or all) with this period's spend from the ledger. */
  list(collection?: string): Promise<BudgetStanding[]>;
  /** Removes a budget; false when there was none. */
  clear(scope: { collection: string; tenant?: string; period: 'day' | 'month' }): Promise<boolean>;
}

/** API keys of the HTTP service (stored hashed; a key is shown once, when it is created). */
export interface VectorsyncApiKeys {
  /**
   * A key of one kind: bound to one tenant; a service key for the data endpoints of any tenant
   * (named per request in the `x-vectorsync-tenant` header); or an admin key for the
   * operational endpoints (and, with the header, the data endpoints).
   */
  create(
    input: { name: string; tenant: string } | { name: string; service: true } | { name: string; admin: true },
  ): Promise<{
    key: string;
    record: ApiKeyRecord;
  }>;
  list(): Promise<ApiKeyRecord[]>;
  /**
   * Revokes by prefix or id. This process's service and plugin refuse the key at once; other
   * processes within their `server.apiKeyCacheMs`.
   */
  revoke(prefixOrId: string): Promise<ApiKeyRecord>;
}

/** Options of `vectorsync.startWorkers()`. */
export interface StartWorkersOptions {
  /** Only these collections (default: every configured one). */
  collections?: string[];
}

/**
 * This process's sync workers: the outbox workers, the CDC consumer when a collection is in CDC
 * mode, the event-bus consumer when one publishes to the bus.
 */
export interface VectorsyncWorkers {
  readonly running: boolean;
  /** Stops claiming, finishes the batches in hand and releases the CDC slot. */
  stop(): Promise<void>;
}

/** Options of `vectorsync.serve()`. */
export interface ServeOptions {
  /** Default: the config's `server.host`. */
  host?: string;
  /** Default: the config's `server.port`; 0 picks a free port. */
  port?: number;
  /** Run this process's sync workers beside the HTTP service (default: the config's `server.runWorkers`). */
  workers?: boolean;
  /** Also serve `GET /metrics` without authentication on this port (default: the config's `server.metricsPort`; 0 picks a free port). */
  metricsPort?: number;
}

/** The running HTTP service (routes, API-key auth, metrics, the reconcile schedule). */
export interface VectorsyncService {
  /** e.g. `http://localhost:8787`. */
  readonly url: string;
  /** The unauthenticated metrics listener's URL (e.g. `http://localhost:9464/metrics`), when one was asked for. */
  readonly metricsUrl: string | undefined;
  /** The Fastify instance, to add your own routes or hooks. */
  readonly app: FastifyInstance;
  /** Stops the schedule, the HTTP server and the service's workers. */
  stop(): Promise<void>;
}

/**
 * An open vectorsync: the database pool, each collection checked against its live table, the
 * embedders and stores. Everything it starts (workers, services) is stopped by `close()`.
 */
export interface Vectorsync {
  /** The resolved, frozen configuration. */
  readonly config: ResolvedConfig;
  /** The configured collections' names. */
  readonly collections: readonly string[];
  /** Applies pending schema migrations (idempotent, advisory-locked). */
  migrate(): Promise<MigrationResult>;
  /**
   * Makes the database match the config, idempotently: migrates, registers each collection,
   * installs its capture (outbox triggers, or the CDC publication and slot), creates its index
   * and enqueues every existing row of a new index (the workers then build it).
   */
  setup(request?: SetupRequest): Promise<SetupResult[]>;
  /**
   * Application-side capture: records that a source row changed, in the transaction of `client`
   * when given (a node-postgres client, a Kysely `Transaction` or a Drizzle `tx`: it commits or
   * rolls back with your write), else on its own. Returns the outbox
   * event's id. Triggers already capture every write in outbox mode; this is for changes the
   * triggers do not see.
   */
  enqueue(request: EnqueueRequest, client?: TransactionClient): Promise<string>;
  /** Tenant-scoped search over the collection's active index. */
  search(request: SearchRequest): Promise<SearchResponse>;
  /** Compares a collection's index with its source; `mode: 'fix'` repairs through the version guard. */
  reconcile(request: ReconcileRequest): Promise<ReconcileReport>;
  /** Queue depth, lag, failures per collection; workers; the CDC slot. */
  status(): Promise<SyncStatus>;
  /** Safe ANN index operations. */
  readonly indexes: VectorsyncIndexes;
  /** API keys of the HTTP service. */
  readonly apiKeys: VectorsyncApiKeys;
  /** Embedding budgets per collection or tenant. */
  readonly budgets: VectorsyncBudgets;
  /** Starts sync workers in this process (any number of processes may run them against one database). */
  startWorkers(options?: StartWorkersOptions): Promise<VectorsyncWorkers>;
  /** Starts the HTTP service (`vectorsync serve`) in this process. To mount the routes in your own Fastify app, use `vectorsync/fastify`. */
  serve(options?: ServeOptions): Promise<VectorsyncService>;
  /** Stops what this object started (services, workers, reconciliations), then closes stores, threads and the pool. Idempotent. */
  close(): Promise<void>;
}
