import type {
  AnalyzerSettings,
  EmbedderConfig,
  SearchSettings,
  SyncConfig,
} from '../config/config-schema.js';
import { parseConfig } from '../config/resolve-config.js';
import type { Database } from '../db/database.js';
import type { EmbedderProgress } from '../embedders/create-embedder.js';
import { listIndexes } from '../index-versions/index-catalog.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { discardCollectionEvents, listOutboxEvents, type OutboxEventView } from '../outbox/outbox-admin.js';
import { countDoneEvents, countOpenEvents } from '../outbox/outbox-reads.js';
import { indexSpecFor, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type SearchMode, SearchService } from '../search/search-service.js';
import { dropPgvectorIndex } from '../stores/pgvector/pgvector-store.js';
import { OutboxWorker } from '../sync/outbox-worker.js';
import { setupCollections } from '../sync/setup-collections.js';
import { isEmptyDocument, type RelevanceDataset } from './relevance-dataset.js';
import { mean, ndcgAt, percentile, recallAt, reciprocalRankAt } from './relevance-metrics.js';

export interface EvaluationOptions {
  db: Database;
  databaseUrl?: string;
  logger?: Logger;
  embedder: EmbedderConfig;
  analyzer?: Partial<AnalyzerSettings>;
  search?: Partial<
    Pick<SearchSettings, 'bm25' | 'fusion' | 'rrfK' | 'weights' | 'normalization' | 'candidates'>
  >;
  modes?: SearchMode[];
  /** Evaluate only the first N judged queries (quick runs). */
  queryLimit?: number;
  /** Re-use an already loaded collection with the same settings instead of reloading. */
  reuse?: boolean;
  /** Retry policy of the workers that load the collection (default: the sync defaults). */
  sync?: Partial<Pick<SyncConfig, 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs'>>;
  onProgress?: (phase: string, done: number, total: number) => void;
  onEmbedderProgress?: EmbedderProgress;
}

export interface ModeResult {
  mode: SearchMode;
  queries: number;
  ndcg10: number;
  recall100: number;
  mrr10: number;
  latencyMs: { p50: number; p95: number };
}

export interface EvaluationResult {
  dataset: string;
  /** Documents in the dataset, skipped ones included. */
  documents: number;
  /**
   * Documents with an empty title and text, not loaded: nothing to embed or match. Judgments
   * naming them still count (such a document can never be retrieved).
   */
  skippedDocuments: number;
  skippedDocumentIds: string[];
  queries: number;
  embedder: string;
  loadSeconds: number;
  results: ModeResult[];
}

const TENANT = 'eval';

/**
 * Loads a test collection into Postgres, lets the outbox workers index it (the normal sync
 * path, not a shortcut), runs every judged query in each mode and scores the rankings.
 */
export async function runEvaluation(
  dataset: RelevanceDataset,
  options: EvaluationOptions,
): Promise<EvaluationResult> {
  const { db } = options;
  const logger = options.logger ?? silentLogger;
  const collection = `eval_${dataset.name.toLowerCase().replace(/[^a-z0-9]+/g, '_')}`.slice(0, 40);
  const table = `vectorsync_eval.${collection}`;
  const config = parseConfig({
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    embedders: { eval: options.embedder },
    stores: { main: { provider: 'pgvector' } },
    collections: {
      [collection]: {
        table,
        primaryKey: 'id',
        tenantColumn: 'tenant',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{title}}. {{body}}',
        keywordFields: ['title', 'body'],
        store: 'main',
        embedder: 'eval',
        ...(options.analyzer ? { analyzer: options.analyzer } : {}),
        ...(options.search ? { search: options.search } : {}),
      },
    },
    sync: {
      batchSize: 500,
      concurrency: db.kind === 'pglite' ? 1 : 2,
      sweepIntervalMs: 1000,
      ...options.sync,
    },
  });
  const skipped = dataset.documents.filter(isEmptyDocument).map((document) => document.id);
  const documents = dataset.documents.filter((document) => !isEmptyDocument(document));

  const loadStarted = performance.now();
  // What the loaded data depends on (search settings apply at query time and may differ).
  const { search: _search, ...loaded } = config.collections[collection]!;
  const settings = { collection: loaded, embedder: options.embedder };
  const reused = options.reuse
    ? await loadedWithSameSettings(db, collection, documents.length, settings)
    : false;
  if (!reused) await resetCollection(db, collection, table);
  const runtime = await VectorsyncRuntime.open({
    config,
    db,
    logger,
    ...(options.onEmbedderProgress ? { onEmbedderProgress: options.onEmbedderProgress } : {}),
  });
  try {
    await runtime.warmUp();
    await setupCollections(runtime);
    if (!reused) {
      await db.query(`COMMENT ON TABLE ${table} IS '${JSON.stringify(settings).replace(/'/g, "''")}'`);
      await loadDocuments(runtime, documents, table, options.onProgress);
    }
    const loadSeconds = (performance.now() - loadStarted) / 1000;

    const search = new SearchService(runtime);
    const judged = dataset.queries.filter((query) =>
      [...(dataset.judgments.get(query.id)?.values() ?? [])].some((gain) => gain > 0),
    );
    const queries = options.queryLimit ? judged.slice(0, options.queryLimit) : judged;
    const results: ModeResult[] = [];
    for (const mode of options.modes ?? ['keyword', 'semantic', 'hybrid']) {
      const ndcg: number[] = [];
      const recall: number[] = [];
      const mrr: number[] = [];
      const latency: number[] = [];
      for (const [index, query] of queries.entries()) {
        const judgments = dataset.judgments.get(query.id)!;
        const started = performance.now();
        const response = await search.search({ collection, tenant: TENANT, query: query.text, mode, k: 100 });
        latency.push(performance.now() - started);
        const ranking = response.hits.map((hit) => hit.id);
        ndcg.push(ndcgAt(ranking, judgments, 10));
        recall.push(recallAt(ranking, judgments, 100));
        mrr.push(reciprocalRankAt(ranking, judgments, 10));
        options.onProgress?.(`${mode} queries`, index + 1, queries.length);
      }
      results.push({
        mode,
        queries: queries.length,
        ndcg10: mean(ndcg),
        recall100: mean(recall),
        mrr10: mean(mrr),
        latencyMs: { p50: percentile(latency, 50), p95: percentile(latency, 95) },
      });
    }
    return {
      dataset: dataset.name,
      documents: dataset.documents.length,
      skippedDocuments: skipped.length,
      skippedDocumentIds: skipped,
      queries: queries.length,
      embedder: runtime.collection(collection).embedder.modelId,
      loadSeconds,
      results,
    };
  } finally {
    await runtime.close();
  }
}

/** Drops any previous run of this collection: its indexes, events, registry rows and table. */
async function resetCollection(db: Database, collection: string, table: string): Promise<void> {
  await db.query('CREATE SCHEMA IF NOT EXISTS vectorsync_eval');
  for (const index of await listIndexes(db, collection)) await dropPgvectorIndex(db, index.location);
  await discardCollectionEvents(db, collection);
  await db.query('DELETE FROM vectorsync.collections WHERE name = $1', [collection]);
  await db.query(`DROP TABLE IF EXISTS ${table} CASCADE`);
  await db.query(
    `CREATE TABLE ${table} (id text PRIMARY KEY, tenant text NOT NULL DEFAULT '${TENANT}', title text, body text, version bigint NOT NULL DEFAULT 0)`,
  );
}

async function loadedWithSameSettings(
  db: Database,
  collection: string,
  documents: number,
  settings: object,
): Promise<boolean> {
  const result = await db.query<{ comment: string | null }>(
    `SELECT obj_description(to_regclass($1), 'pg_class') AS comment`,
    [`vectorsync_eval.${collection}`],
  );
  if (result.rows[0]?.comment !== JSON.stringify(settings)) return false;
  return (await countDoneEvents(db, collection)) >= documents;
}

async function loadDocuments(
  runtime: VectorsyncRuntime,
  documents: RelevanceDataset['documents'],
  table: string,
  onProgress: EvaluationOptions['onProgress'],
): Promise<void> {
  for (let start = 0; start < documents.length; start += 2000) {
    const chunk = documents.slice(start, start + 2000);
    await runtime.db.query(
      `INSERT INTO ${table} (id, title, body) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
      [
        chunk.map((document) => document.id),
        chunk.map((document) => document.title),
        chunk.map((document) => document.text),
      ],
    );
  }
  const collection = [...runtime.collections.values()][0]!;
  const spec = indexSpecFor(runtime.activeTarget(collection.name).record, collection.definition);
  const worker = new OutboxWorker({ runtime });
  await worker.start();
  try {
    for (;;) {
      const indexed = await runtime.activeTarget(collection.name).store.count(spec);
      onProgress?.('indexing', indexed, documents.length);
      if ((await countOpenEvents(runtime.db, collection.name)) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Nothing silent: a document that could not be indexed fails the run, naming it and why.
    const failed = await listOutboxEvents(runtime.db, {
      collection: collection.name,
      status: 'failed',
      limit: 1000,
    });
    if (failed.length > 0) throw new Error(failureSummary(collection.name, failed));
  } finally {
    await worker.stop();
  }
}

function failureSummary(collection: string, failed: OutboxEventView[]): string {
  const shown = failed.slice(0, 10).map((event) => {
    const error = (event.lastError ?? '').slice(0, 200);
    return `${event.sourceId} (${event.lastErrorCode ?? 'no code'}${error ? `: ${error}` : ''})`;
  });
  const more = failed.length > shown.length ? `; and ${failed.length - shown.length} more` : '';
  const count = failed.length >= 1000 ? 'at least 1000' : String(failed.length);
  return `${count} document(s) failed to index: ${shown.join('; ')}${more}; see vectorsync events list --status failed -c ${collection}`;
}
