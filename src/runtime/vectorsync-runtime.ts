import { type CollectionDefinition, loadCollectionDefinitions } from '../config/collection-definition.js';
import type { ResolvedConfig } from '../config/resolve-config.js';
import { BudgetGate } from '../costs/budget-gate.js';
import { EmbeddingLedger } from '../costs/embedding-ledger.js';
import { assertSourceReachable } from '../db/connection-failure.js';
import type { Database } from '../db/database.js';
import { assertMigrated } from '../db/migrator.js';
import { PgDatabase } from '../db/pg-database.js';
import type { EmbedderProgress } from '../embedders/create-embedder.js';
import type { Embedder } from '../embedders/embedder.js';
import { type EmbeddingProfile, EmbeddingProfiles } from '../embedders/embedding-profile.js';
import { OpenAiEmbedder } from '../embedders/openai-embedder.js';
import type { LimiterState } from '../embedders/provider-limiter.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { CatalogSnapshot, type IndexTarget } from '../index-versions/catalog-snapshot.js';
import { allLiveIndexes, type IndexRecord } from '../index-versions/index-catalog.js';
import { versionEmbedding } from '../index-versions/version-embedding.js';
import { withLogScope } from '../log-scope.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { Analyzer } from '../pipeline/analyzer.js';
import type { EmbeddingCache } from '../pipeline/embedding-cache.js';
import { createStore } from '../stores/create-store.js';
import type { IndexSpec, VectorStore } from '../stores/vector-store.js';
import { DocumentPool, type DocumentPoolOptions, resolveCpuThreads } from './document-pool.js';

export type { IndexTarget } from '../index-versions/catalog-snapshot.js';

export interface CollectionRuntime {
  readonly name: string;
  readonly definition: CollectionDefinition;
  /**
   * The embedder the config names: new index versions are built with it. Each live version is
   * written and searched with its own (`IndexTarget.embedding`), which differs while a model
   * change is under way.
   */
  readonly embedding: EmbeddingProfile;
  /** `embedding.embedder` */
  readonly embedder: Embedder;
  /** `embedding.cache` */
  readonly embeddingCache: EmbeddingCache;
  /** Turns keyword text into terms, for documents and queries alike. */
  readonly analyzer: Analyzer;
  readonly storeName: string;
  readonly store: VectorStore;
  /** Indexes receiving writes (active and building): the current catalog snapshot's, frozen. */
  readonly targets: readonly IndexTarget[];
}

export function indexSpecFor(record: IndexRecord, definition: CollectionDefinition): IndexSpec {
  return {
    indexId: record.id,
    collection: record.collection,
    location: record.location,
    dimensions: record.dimensions,
    metric: 'cosine',
    payloadFields: definition.payloadFields,
    source: {
      table: definition.table,
      columns: definition.keyColumns.map((column) => ({ name: column.name, type: column.type })),
    },
    params: record.params,
  };
}

export interface OpenRuntimeOptions {
  config: ResolvedConfig;
  /** A database to use instead of config.databaseUrl (PGlite for the demo, or a shared pool). */
  db?: Database;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Skip the migration check (the `migrate` command itself). */
  skipMigrationCheck?: boolean;
  /** Progress of one-time embedder preparation (e.g. converting word vectors). */
  onEmbedderProgress?: EmbedderProgress;
  /** Test and diagnostic settings of the document worker threads (their size and budget come from config.sync). */
  documentPool?: Pick<DocumentPoolOptions, 'workerHooks' | 'inlineMaxChars'>;
}

/**
 * Everything a process needs, built once from the resolved config: the database, each
 * collection's definition checked against its live table, embedders, stores and the
 * index versions they write. The server, the workers and the CLI all start here.
 */
export class VectorsyncRuntime {
  /**
   * Builds and embeds documents in worker threads, off the event loop (threads start on first
   * use): what the Applier calls for every changed row.
   */
  readonly documents: DocumentPool;
  /** Tokens and cost of billed embedders, per collection, tenant, model, day and lane. */
  readonly ledger: EmbeddingLedger;
  /** The embedding budgets, checked before each batch is sent to a billed provider. */
  readonly budgets: BudgetGate;

  private constructor(
    readonly config: ResolvedConfig,
    readonly db: Database,
    readonly logger: Logger,
    readonly collections: Map<string, CollectionRuntime>,
    private readonly ownsDb: boolean,
    private readonly stores: Map<string, VectorStore>,
    private readonly catalog: { current: CatalogSnapshot },
    private readonly profiles: EmbeddingProfiles,
    poolOptions: OpenRuntimeOptions['documentPool'] = {},
  ) {
    this.ledger = new EmbeddingLedger(db, config.costs, logger.child({ component: 'embedding-ledger' }));
    this.budgets = new BudgetGate(db, this.ledger, config.costs);
    this.documents = new DocumentPool({
      ...poolOptions,
      spend: { ledger: this.ledger, gate: this.budgets },
      threads: resolveCpuThreads(config.sync.cpuThreads),
      budgetMs: config.sync.documentBudgetMs,
      memoryMb: config.sync.cpuThreadMemoryMb,
      logger: logger.child({ component: 'document-pool' }),
    });
  }

  static async open(options: OpenRuntimeOptions): Promise<VectorsyncRuntime> {
    // Lines written while a request (or other scope) runs carry its fields, e.g. the request id.
    const logger = withLogScope(options.logger ?? silentLogger);
    const env = options.env ?? process.env;
    const { config } = options;
    let db = options.db;
    const ownsDb = !db;
    if (!db) {
      if (!config.databaseUrl) {
        throw new VectorsyncError(
          ErrorCode.ConfigInvalid,
          'no database: set DATABASE_URL or databaseUrl in the config',
        );
      }
      db = PgDatabase.fromUrl(config.databaseUrl, { max: config.poolSize, logger });
    }
    const stores = new Map<string, VectorStore>();
    let profiles: EmbeddingProfiles | undefined;
    try {
      await assertSourceReachable(db);
      if (!options.skipMigrationCheck) await assertMigrated(db);
      const definitions = await loadCollectionDefinitions(db, config);
      for (const [name, storeConfig] of Object.entries(config.stores)) {
        stores.set(
          name,
          createStore(name, storeConfig, db, logger.child({ store: name }), config.poolSize, env),
        );
      }
      profiles = new EmbeddingProfiles({
        db,
        env,
        logger,
        ...(options.onEmbedderProgress ? { onProgress: options.onEmbedderProgress } : {}),
      });
      const collections = new Map<string, CollectionRuntime>();
      const catalog = { current: CatalogSnapshot.empty };
      for (const [name, definition] of definitions) {
        const store = stores.get(definition.config.store)!;
        if (definition.config.chunking && !store.capabilities.chunks) {
          throw new VectorsyncError(
            ErrorCode.ConfigInvalid,
            `collections.${name}.chunking: store "${definition.config.store}" (${store.kind}) does not hold chunks; use a pgvector store for a chunked collection`,
            { details: { collection: name, store: definition.config.store } },
          );
        }
        const embedderName = definition.config.embedder;
        const embedding = profiles.of(config.embedders[embedderName]!, embedderName);
        collections.set(name, {
          name,
          definition,
          embedding,
          embedder: embedding.embedder,
          embeddingCache: embedding.cache,
          analyzer: new Analyzer(definition.config.analyzer),
          storeName: definition.config.store,
          store: stores.get(definition.config.store)!,
          get targets() {
            return catalog.current.targetsOf(name);
          },
        });
      }
      const runtime = new VectorsyncRuntime(
        config,
        db,
        logger,
        collections,
        ownsDb,
        stores,
        catalog,
        profiles,
        options.documentPool,
      );
      if (!options.skipMigrationCheck) await runtime.refreshIndexes();
      return runtime;
    } catch (error) {
      await profiles?.close().catch(() => undefined);
      for (const store of stores.values()) await store.close().catch(() => undefined);
      if (ownsDb) await db.close();
      throw error;
    }
  }

  collection(name: string): CollectionRuntime {
    const collection = this.collections.get(name);
    if (!collection) {
      throw new VectorsyncError(ErrorCode.UnknownCollection, `unknown collection "${name}"`, {
        details: { collection: name, known: [...this.collections.keys()] },
      });
    }
    return collection;
  }

  /** The active index of a collection, the one searches read. */
  activeTarget(name: string): IndexTarget {
    const collection = this.collection(name);
    const active = collection.targets.find((target) => target.record.state === 'active');
    if (!active) {
      throw new VectorsyncError(
        ErrorCode.IndexNotFound,
        `collection "${name}" has no active index yet; run \`vectorsync setup\``,
        { details: { collection: name } },
      );
    }
    return active;
  }

  /**
   * Loads every embedder's model or files now rather than on the first write or query, and
   * starts the document worker threads meanwhile (processes that sync call this; others start
   * them on first use).
   */
  async warmUp(): Promise<void> {
    this.documents.warmUp();
    const seen = new Set<Embedder>();
    for (const collection of this.collections.values()) {
      const versions = collection.targets.map((target) => target.embedding);
      for (const embedding of [collection.embedding, ...versions]) {
        if (embedding instanceof Error || seen.has(embedding.embedder)) continue;
        seen.add(embedding.embedder);
        await embedding.embedder.init?.();
      }
    }
  }

  /**
   * Reloads the catalog of live index versions in one read and swaps the new snapshot in
   * whole; a reload that fails leaves the previous snapshot in use.
   */
  async refreshIndexes(): Promise<void> {
    const records = await allLiveIndexes(this.db);
    const targets: IndexTarget[] = [];
    for (const record of records) {
      const collection = this.collections.get(record.collection);
      // A collection no longer in this config: nothing here writes or searches it.
      if (!collection) continue;
      targets.push({
        record,
        spec: indexSpecFor(record, collection.definition),
        store: this.store(record.store, collection.name),
        storeName: record.store,
        embedding: await versionEmbedding(this.db, record, collection.embedding, this.profiles),
      });
    }
    this.catalog.current = CatalogSnapshot.of(targets);
  }

  /** A configured store by name; an index in a store the config no longer names cannot be written. */
  store(name: string, collection?: string): VectorStore {
    const store = this.stores.get(name);
    if (!store) {
      throw new VectorsyncError(
        ErrorCode.ConfigInvalid,
        `store "${name}"${collection ? ` holds a live index of collection "${collection}" but` : ''} is not declared in the config (stores.${name})`,
        { details: { store: name, known: [...this.stores.keys()], ...(collection ? { collection } : {}) } },
      );
    }
    return store;
  }

  /** The client-side limiter of each remote embedder in use here (for metrics and status). */
  embedderLimits(): Array<{ model: string; baseUrl: string; state: LimiterState }> {
    return this.profiles.all().flatMap((profile) => {
      const { embedder, config } = profile;
      if (!(embedder instanceof OpenAiEmbedder) || config.provider !== 'openai') return [];
      return [{ model: embedder.modelId, baseUrl: config.baseUrl, state: embedder.limits() }];
    });
  }

  async close(): Promise<void> {
    await this.documents.close();
    await this.ledger.close();
    await this.profiles.close();
    for (const store of this.stores.values()) await store.close();
    if (this.ownsDb) await this.db.close();
  }
}
