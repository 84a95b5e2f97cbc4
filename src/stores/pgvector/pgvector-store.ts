import { connectionFailureReason, isConnectionError } from '../../db/connection-failure.js';
import type { Database, SqlExecutor } from '../../db/database.js';
import { PgDatabase } from '../../db/pg-database.js';
import { quoteIdent } from '../../db/sql-identifier.js';
import { SqlState, sqlStateOf } from '../../db/sqlstate.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import type { EmbeddedDocument } from '../../pipeline/index-document.js';
import type { IndexOpsSupport } from '../index-ops-support.js';
import { isChunked } from '../index-params.js';
import type {
  ApplyResult,
  BucketChecksum,
  DeleteRequest,
  DenseSearchRequest,
  IndexSpec,
  KeywordSearchRequest,
  ScanPage,
  ScanRequest,
  SearchHit,
  StoreCapabilities,
  StoredChunk,
  UpsertOptions,
  VectorStore,
} from '../vector-store.js';
import { upsertIntake } from '../version-guard.js';
import { bm25Ddl, bm25Names, compactBm25Sql } from './pgvector-bm25.js';
import {
  chunkTableDdl,
  pgvectorChunkNames,
  readChunks,
  searchChunks,
  writeChunks,
} from './pgvector-chunks.js';
import {
  hnswParams,
  type PgvectorStoreConfig,
  pgvectorNames,
  pgvectorSearchSettings,
  pgvectorVectorType,
  vectorLiteral,
} from './pgvector-config.js';
import { assertNoConcurrentIndexDdl } from './pgvector-ddl-guard.js';
import { compileFilter } from './pgvector-filter.js';
import { PgvectorIndexOps } from './pgvector-index-ops.js';
import { pgvectorKeywordSearch } from './pgvector-keyword-search.js';
import { bucketColumnDdl, pgvectorBucketChecksums, pgvectorScan } from './pgvector-scan.js';
import {
  keyArrays,
  missingSourceRows,
  type PgvectorSourceKey,
  pgvectorSourceKey,
} from './pgvector-source-key.js';
import { TermDictionary } from './pgvector-terms.js';

interface HitRow {
  id: string;
  version: string;
  payload: Record<string, unknown>;
  score: number;
}

/**
 * Vectors in Postgres with pgvector: one table per index version in the `vectorsync`
 * schema, an HNSW cosine index built CONCURRENTLY, a tombstone table for the version guard,
 * and BM25 postings and statistics kept exact by triggers (pgvector-bm25.ts). In the source
 * database the table's id references the source row (ON DELETE CASCADE), so a vector can
 * never outlive, or exist without, the row it was built from.
 */
export class PgvectorStore implements VectorStore {
  readonly kind = 'pgvector';
  readonly capabilities: StoreCapabilities;
  /** Index operations need dedicated server sessions: a Postgres server, not the embedded demo. */
  readonly indexOps?: IndexOpsSupport;
  private readonly terms = new TermDictionary();

  constructor(
    private readonly db: Database,
    private readonly config: PgvectorStoreConfig,
    private readonly options: { sameDatabaseAsSource: boolean; logger?: Logger; ownsDatabase?: boolean },
  ) {
    this.capabilities = {
      sourceForeignKey: options.sameDatabaseAsSource,
      keyword: true,
      filters: true,
      chunks: true,
    };
    if (db instanceof PgDatabase) this.indexOps = new PgvectorIndexOps(db, config);
  }

  private get logger(): Logger {
    return this.options.logger ?? silentLogger;
  }

  /** How the index table holds the source key (src/stores/pgvector/pgvector-source-key.ts). */
  private key(spec: IndexSpec): PgvectorSourceKey {
    return pgvectorSourceKey(this.options.sameDatabaseAsSource ? spec.source : undefined);
  }

  async ensureIndex(spec: IndexSpec): Promise<void> {
    assertIndexableDimensions(spec);
    const names = pgvectorNames(spec.location);
    // ON UPDATE CASCADE: a primary-key change of an indexed row must not fail the application's
    // UPDATE; the record moves with it (and the new key's event brings it up to date).
    const key = this.key(spec);
    await this.run(async () => {
      if (this.db.kind === 'postgres') await assertNoConcurrentIndexDdl(this.db, names.table);
      await this.db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1, 0)', [spec.indexId]);
        const hasVector = await tx.query<{ present: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS present`,
        );
        if (!hasVector.rows[0]?.present) await tx.query('CREATE EXTENSION IF NOT EXISTS vector');
        await tx.query('CREATE SCHEMA IF NOT EXISTS vectorsync');
        // fillfactor leaves room for HOT updates: a payload-only change (same vector) then
        // skips the HNSW insert entirely.
        await tx.query(
          `CREATE TABLE IF NOT EXISTS ${names.table} (
             ${key.ddl},
             tenant text NOT NULL,
             version bigint NOT NULL,
             content_hash text NOT NULL,
             payload jsonb NOT NULL DEFAULT '{}',
             embedding ${pgvectorVectorType(spec)}(${Number(spec.dimensions)}) NOT NULL,
             indexed_at timestamptz NOT NULL DEFAULT now()
           ) WITH (fillfactor = 80)`,
        );
        await tx.query(
          `CREATE INDEX IF NOT EXISTS ${quoteIdent(names.tenantIndexName)} ON ${names.table} (tenant)`,
        );
        await tx.query(
          `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${spec.location}_payload`)} ON ${names.table} USING gin (payload jsonb_path_ops)`,
        );
        await tx.query(
          `CREATE TABLE IF NOT EXISTS ${names.tombstones} (
             id text PRIMARY KEY, tenant text NOT NULL, version bigint NOT NULL, deleted_at timestamptz NOT NULL DEFAULT now())`,
        );
        if (key.source) await cascadeKeyUpdates(tx, names.table);
        if (isChunked(spec)) for (const statement of chunkTableDdl(spec, key)) await tx.query(statement);
        for (const statement of bm25Ddl(spec.location, key.idType)) await tx.query(statement);
        // Tables created before the bucket column existed get it here (a one-time rewrite).
        for (const statement of bucketColumnDdl(spec.location, key.idSql)) await tx.query(statement);
      });
      await this.ensureHnswIndex(spec);
    });
  }

  /**
   * The initial HNSW index of a new index table, built CONCURRENTLY: writes and searches
   * continue. Later changes (parameters, IVFFlat, per-tenant indexes, blue/green rebuilds under
   * other names) are src/indexops' job; any valid ANN index over the whole table counts here.
   */
  private async ensureHnswIndex(spec: IndexSpec): Promise<void> {
    const names = pgvectorNames(spec.location);
    const ann = await this.db.query<{ name: string; valid: boolean; whole: boolean }>(
      `SELECT c.relname AS name, i.indisvalid AS valid, i.indpred IS NULL AS whole
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid = to_regclass($1) AND a.amname IN ('hnsw', 'ivfflat')`,
      [names.table],
    );
    if (ann.rows.some((row) => row.valid && row.whole)) return;
    const existing = ann.rows.filter((row) => row.name === names.hnswIndexName);
    if (existing[0] && !existing[0].valid) {
      // A crashed concurrent build leaves an invalid index that would never be used.
      this.logger.warn(
        { index: names.hnswIndexName },
        'dropping invalid HNSW index left by an interrupted build',
      );
      await this.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${names.hnswIndex}`);
    }
    const { m, efConstruction } = hnswParams(spec, this.config.hnsw);
    await this.db.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(names.hnswIndexName)} ON ${names.table}
         USING hnsw (embedding ${pgvectorVectorType(spec)}_cosine_ops) WITH (m = ${Number(m)}, ef_construction = ${Number(efConstruction)})`,
    );
  }

  async upsert(
    spec: IndexSpec,
    documents: readonly EmbeddedDocument[],
    options: UpsertOptions = {},
  ): Promise<ApplyResult[]> {
    if (documents.length === 0) return [];
    const { results, valid } = upsertIntake(spec, documents);
    if (valid.length > 0) {
      const outcome = await this.run(() => this.writeDocuments(spec, valid, options.overwrite === true));
      for (const document of valid) {
        if (outcome.written.has(document.id))
          results.set(document.id, { id: document.id, outcome: 'applied' });
        else if (outcome.missing.has(document.id)) {
          results.set(document.id, {
            id: document.id,
            outcome: 'failed',
            error: sourceRowMissing(spec, document.id),
          });
        } else results.set(document.id, { id: document.id, outcome: 'skipped_stale' });
      }
    }
    return documents.map((document) => results.get(document.id)!);
  }

  /**
   * One guarded write. A source row deleted between the existence check and the insert makes
   * the foreign key fail the whole statement; the write is then retried without that id, which
   * is reported as missing, so one vanished row never fails or hides its neighbours.
   */
  private async writeDocuments(
    spec: IndexSpec,
    documents: readonly EmbeddedDocument[],
    overwrite: boolean,
  ): Promise<{ written: Set<string>; missing: Set<string> }> {
    const names = pgvectorNames(spec.location);
    const key = this.key(spec);
    const ids = documents.map((document) => document.id);
    const termIds = await this.terms.resolve(
      this.db,
      spec.location,
      documents.flatMap((document) => Object.keys(document.terms)),
    );
    const bm25Terms: string[] = [];
    const bm25Tfs: string[] = [];
    for (const document of documents) {
      const entries = Object.entries(document.terms);
      bm25Terms.push(`{${entries.map(([term]) => termIds.get(term)!).join(',')}}`);
      bm25Tfs.push(`{${entries.map(([, tf]) => tf).join(',')}}`);
    }
    const values = [
      ids,
      documents.map((document) => document.tenant),
      documents.map((document) => document.version),
      documents.map((document) => document.contentHash),
      documents.map((document) => document.payload),
      documents.map((document) => vectorLiteral(document.vector)),
      bm25Terms,
      bm25Tfs,
      documents.map((document) => document.termCount),
    ];
    // A composite key writes its key columns (the id is generated from them): $12 … in key order.
    const keyInput = key.keyColumns.map((column, index) => ({
      param: `$${12 + index}::text[]`,
      select: `i.${column}${key.source ? `::${key.source.columns[index]!.type}` : ''}`,
      column,
    }));
    const insertKey = keyInput.length > 0 ? keyInput.map((input) => input.column).join(', ') : 'id';
    const selectKey =
      keyInput.length > 0 ? keyInput.map((input) => input.select).join(', ') : `i.id${key.idCast}`;
    const keyValues = keyInput.length > 0 ? keyArrays(key, ids) : [];
    const vanished = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (tx) => {
          await lockKeys(tx, spec.indexId, ids);
          const missing = await missingSourceRows(tx, key, ids);
          for (const id of vanished) missing.add(id);
          const written = await tx.query<{ id: string }>(
            `WITH input AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::text[], $9::int[]${keyInput.map((input) => `, ${input.param}`).join('')})
                 AS u(id, tenant, version, content_hash, payload, embedding, terms, tfs, len${keyInput.map((input) => `, ${input.column}`).join('')})
                WHERE NOT (u.id = ANY($10::text[]))
             )
             INSERT INTO ${names.table} AS t (${insertKey}, tenant, version, content_hash, payload, embedding, bm25_terms, bm25_tfs, bm25_len, indexed_at)
             SELECT ${selectKey}, i.tenant, i.version, i.content_hash, i.payload, i.embedding::${pgvectorVectorType(spec)}, i.terms::int[], i.tfs::int[], i.len, now()
               FROM input i
              WHERE $11::boolean OR NOT EXISTS (SELECT 1 FROM ${names.tombstones} d WHERE d.id = i.id AND d.version >= i.version)
             ON CONFLICT (id) DO UPDATE
                SET tenant = EXCLUDED.tenant, version = EXCLUDED.version, content_hash = EXCLUDED.content_hash,
                    payload = EXCLUDED.payload, embedding = EXCLUDED.embedding, bm25_terms = EXCLUDED.bm25_terms,
                    bm25_tfs = EXCLUDED.bm25_tfs, bm25_len = EXCLUDED.bm25_len, indexed_at = EXCLUDED.indexed_at
              WHERE ($11::boolean OR t.version <= EXCLUDED.version)
                -- a redelivered event changes nothing: write no new tuple for it
                AND (t.version, t.content_hash, t.tenant, t.payload, t.bm25_terms, t.bm25_tfs) IS DISTINCT FROM
                    (EXCLUDED.version, EXCLUDED.content_hash, EXCLUDED.tenant, EXCLUDED.payload, EXCLUDED.bm25_terms, EXCLUDED.bm25_tfs)
             RETURNING t.id::text AS id`,
            [...values, [...missing], overwrite, ...keyValues],
          );
          const writtenIds = written.rows.map((row) => row.id);
          if (isChunked(spec)) await writeChunks(tx, spec, key, documents, new Set(writtenIds));
          // Tombstones older than what was just written can no longer block anything; an
          // overwrite also clears the ones that contradicted the source.
          const cleared = overwrite ? ids.filter((id) => !missing.has(id)) : writtenIds;
          let clearedTombstones = new Set<string>();
          if (cleared.length > 0) {
            const removed = await tx.query<{ id: string }>(
              `DELETE FROM ${names.tombstones} WHERE id = ANY($1::text[]) RETURNING id`,
              [cleared],
            );
            if (overwrite) clearedTombstones = new Set(removed.rows.map((row) => row.id));
          }
          return { written: new Set([...writtenIds, ...clearedTombstones]), missing };
        });
      } catch (error) {
        const state = sqlStateOf(error);
        if (isRetryable(state) && attempt <= 3) continue;
        // A composite key's violation detail cannot be parsed back into an id unambiguously; the
        // next attempt's existence check finds the vanished row instead.
        if (
          state === SqlState.ForeignKeyViolation &&
          key.keyColumns.length > 0 &&
          attempt <= documents.length
        )
          continue;
        const id = state === SqlState.ForeignKeyViolation ? foreignKeyId(error) : undefined;
        if (id === undefined || !ids.includes(id) || vanished.has(id) || attempt > documents.length)
          throw error;
        vanished.add(id);
      }
    }
  }

  async delete(spec: IndexSpec, requests: readonly DeleteRequest[]): Promise<ApplyResult[]> {
    if (requests.length === 0) return [];
    const names = pgvectorNames(spec.location);
    const idCast = this.key(spec).idCast;
    const unique = [...new Map(requests.map((request) => [request.id, request])).values()];
    const ids = unique.map((request) => request.id);
    const newer = await this.run(() =>
      this.retrying(() =>
        this.db.transaction(async (tx) => {
          await lockKeys(tx, spec.indexId, ids);
          await tx.query(
            `WITH input AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, tenant, version)
             ), removed AS (
               DELETE FROM ${names.table} t USING input i
                WHERE t.id = i.id${idCast} AND (i.tenant IS NULL OR t.tenant = i.tenant) AND (i.version IS NULL OR t.version <= i.version)
               RETURNING t.id::text AS id, t.version, t.tenant
             )
             INSERT INTO ${names.tombstones} AS d (id, tenant, version)
             SELECT i.id, COALESCE(i.tenant, r.tenant, ''), COALESCE(i.version, r.version, 0)
               FROM input i LEFT JOIN removed r ON r.id = i.id
             ON CONFLICT (id) DO UPDATE
                SET version = GREATEST(d.version, EXCLUDED.version), tenant = EXCLUDED.tenant, deleted_at = now()`,
            [ids, unique.map((request) => request.tenant), unique.map((request) => request.version)],
          );
          const remaining = await tx.query<{ id: string }>(
            `SELECT t.id::text AS id FROM ${names.table} t
               JOIN unnest($1::text[], $2::text[]) AS u(id, tenant) ON t.id = u.id${idCast} AND (u.tenant IS NULL OR t.tenant = u.tenant)`,
            [ids, unique.map((request) => request.tenant)],
          );
          return new Set(remaining.rows.map((row) => row.id));
        }),
      ),
    );
    return requests.map((request) => ({
      id: request.id,
      outcome: newer.has(request.id) ? 'skipped_stale' : 'applied',
    }));
  }

  async truncate(spec: IndexSpec): Promise<void> {
    const names = pgvectorNames(spec.location);
    // The table's TRUNCATE trigger empties the keyword-search tables with it (pgvector-bm25.ts).
    const chunks = isChunked(spec) ? `, ${pgvectorChunkNames(spec.location).chunks}` : '';
    await this.run(() => this.db.query(`TRUNCATE ${names.table}, ${names.tombstones}${chunks}`));
  }

  async search(spec: IndexSpec, request: DenseSearchRequest): Promise<SearchHit[]> {
    if (request.vector.length !== spec.dimensions) {
      throw new VectorsyncError(
        ErrorCode.DimensionMismatch,
        `query vector has ${request.vector.length} dimensions, index ${spec.location} expects ${spec.dimensions}`,
        { details: { expected: spec.dimensions, received: request.vector.length } },
      );
    }
    if (isChunked(spec))
      return this.run(() =>
        this.db.transaction(async (tx) => {
          await this.applySearchSettings(tx);
          return searchChunks(tx, spec, request);
        }),
      );
    const names = pgvectorNames(spec.location);
    const vectorType = pgvectorVectorType(spec);
    const params: unknown[] = [vectorLiteral(request.vector), request.tenant, request.k];
    const filter = request.filter ? ` AND ${compileFilter(request.filter, 'i', params)}` : '';
    const rows = await this.run(() =>
      this.db.transaction(async (tx) => {
        await this.applySearchSettings(tx);
        const result = await tx.query<HitRow>(
          `SELECT i.id::text AS id, i.version::text AS version, i.payload, 1 - (i.embedding <=> $1::${vectorType}) AS score
             FROM ${names.table} i
            WHERE i.tenant = $2${filter}
            ORDER BY i.embedding <=> $1::${vectorType}
            LIMIT $3`,
          params,
        );
        return result.rows;
      }),
    );
    // relaxed_order iterative scans may return rows slightly out of order.
    return rows.map(toHit).sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
  }

  async keywordSearch(spec: IndexSpec, request: KeywordSearchRequest): Promise<SearchHit[]> {
    if (request.terms.length === 0) return [];
    return this.run(() => pgvectorKeywordSearch(this.db, spec, request));
  }

  /**
   * ANALYZE of the version's tables. Until a table has statistics the planner guesses it tiny
   * and answers dense searches exactly (a sort); once autovacuum analyses it, the same query
   * goes through HNSW and may rank differently. A build calls this after its fill so that what
   * it measures is what serving will give. ANALYZE blocks neither reads nor writes.
   */
  async refreshStatistics(spec: IndexSpec): Promise<void> {
    const names = pgvectorNames(spec.location);
    const bm25 = bm25Names(spec.location);
    const tables = [names.table, bm25.documents, bm25.postings, bm25.terms, bm25.stats];
    if (isChunked(spec)) tables.push(pgvectorChunkNames(spec.location).chunks);
    await this.run(() => this.db.query(`ANALYZE ${tables.join(', ')}`));
  }

  /** Folds BM25 statistics deltas; cheap, and safe to run alongside writers. */
  async maintain(spec: IndexSpec): Promise<void> {
    await this.run(() =>
      this.db.transaction(async (tx) => {
        const locked = await tx.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_xact_lock($1, 1) AS locked',
          [spec.indexId],
        );
        if (!locked.rows[0]?.locked) return;
        for (const statement of compactBm25Sql(spec.location)) await tx.query(statement);
      }),
    );
  }

  private async applySearchSettings(tx: SqlExecutor): Promise<void> {
    const settings = pgvectorSearchSettings(this.config);
    await tx.query(
      `SELECT ${settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
      settings.flat(),
    );
  }

  async scan(spec: IndexSpec, request: ScanRequest): Promise<ScanPage> {
    return this.run(() => pgvectorScan(this.db, spec, this.key(spec).idType, request));
  }

  async bucketChecksums(
    spec: IndexSpec,
    request: { tenant?: string; bucketBits: number },
  ): Promise<BucketChecksum[]> {
    return this.run(() => pgvectorBucketChecksums(this.db, spec, request));
  }

  async tombstoneVersions(spec: IndexSpec, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const names = pgvectorNames(spec.location);
    const result = await this.run(() =>
      this.db.query<{ id: string; version: string }>(
        `SELECT id, version::text AS version FROM ${names.tombstones} WHERE id = ANY($1::text[])`,
        [ids],
      ),
    );
    return new Map(result.rows.map((row) => [row.id, Number(row.version)]));
  }

  async readChunks(
    spec: IndexSpec,
    ids: readonly string[],
    tenant?: string,
  ): Promise<Map<string, StoredChunk[]>> {
    if (!isChunked(spec)) return new Map();
    return this.run(() => readChunks(this.db, spec, ids, tenant));
  }

  async count(spec: IndexSpec, tenant?: string): Promise<number> {
    const names = pgvectorNames(spec.location);
    const result = await this.run(() =>
      this.db.query<{ count: string }>(
        `SELECT count(*)::text AS count FROM ${names.table} WHERE ($1::text IS NULL OR tenant = $1)`,
        [tenant ?? null],
      ),
    );
    return Number(result.rows[0]?.count ?? 0);
  }

  async drop(spec: IndexSpec): Promise<void> {
    this.terms.forget(spec.location);
    await this.run(() => dropPgvectorIndex(this.db, spec.location));
  }

  async ping(): Promise<void> {
    await this.run(() => this.db.query('SELECT 1'));
  }

  async close(): Promise<void> {
    if (this.options.ownsDatabase) await this.db.close();
  }

  /** Deadlocks and serialization failures are retried: the statements are idempotent. */
  private async retrying<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!isRetryable(sqlStateOf(error)) || attempt >= 4) throw error;
      }
    }
  }

  /** Maps driver errors to vectorsync errors once, at the store boundary. */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof VectorsyncError) throw error;
      if (isConnectionError(error)) {
        // The driver's text (addresses, server messages) stays in `cause`, for logs: this message
        // can reach an HTTP client.
        throw new VectorsyncError(
          ErrorCode.StoreUnavailable,
          `pgvector store unreachable: ${connectionFailureReason(error) ?? 'connection failed'}`,
          { cause: error, transient: true },
        );
      }
      const state = sqlStateOf(error);
      if (state === SqlState.UndefinedColumn && /"bucket"/.test((error as Error).message)) {
        throw new VectorsyncError(
          ErrorCode.IndexNotFound,
          'this pgvector index table predates id buckets; run `vectorsync setup` once to add them',
          { cause: error },
        );
      }
      if (state === SqlState.ForeignKeyViolation) {
        const id = foreignKeyId(error);
        throw new VectorsyncError(
          ErrorCode.SourceRowMissing,
          `cannot index id ${id ?? '(unknown)'}: it does not exist in the source table`,
          {
            cause: error,
            details: { id },
          },
        );
      }
      if (state === '22000' && /dimensions/.test((error as Error).message)) {
        throw new VectorsyncError(ErrorCode.DimensionMismatch, (error as Error).message, { cause: error });
      }
      throw new VectorsyncError(ErrorCode.StoreFailed, `pgvector store error: ${(error as Error).message}`, {
        cause: error,
        details: state ? { sqlstate: state } : {},
      });
    }
  }
}

/** pgvector's HNSW and IVFFlat limits (0.8): beyond them CREATE INDEX fails after the table exists. */
const MAX_INDEXED_DIMENSIONS = { vector: 2_000, halfvec: 4_000 } as const;

function assertIndexableDimensions(spec: IndexSpec): void {
  const vectorType = pgvectorVectorType(spec);
  const limit = MAX_INDEXED_DIMENSIONS[vectorType];
  if (spec.dimensions <= limit) return;
  const hint =
    vectorType === 'vector' && spec.dimensions <= MAX_INDEXED_DIMENSIONS.halfvec
      ? ": set the store's `vectorType: halfvec` (up to 4,000), or choose fewer dimensions"
      : ': choose fewer dimensions (an embedder with a `dimensions` option) or another store';
  throw new VectorsyncError(
    ErrorCode.ConfigInvalid,
    `pgvector indexes at most ${limit.toLocaleString('en-US')} dimensions of type ${vectorType}; index ${spec.location} has ${spec.dimensions}${hint}`,
    { details: { index: spec.location, dimensions: spec.dimensions, vectorType, limit } },
  );
}

function toHit(row: HitRow): SearchHit {
  return { id: row.id, score: Number(row.score), version: Number(row.version), payload: row.payload };
}

function isRetryable(state: string | undefined): boolean {
  return state === SqlState.DeadlockDetected || state === SqlState.SerializationFailure;
}

/**
 * Serialises writers of the same ids (in a fixed order, so no deadlocks): the tombstone
 * check and the write must not interleave with a concurrent delete of the same id.
 */
async function lockKeys(tx: SqlExecutor, indexId: number, ids: readonly string[]): Promise<void> {
  await tx.query(
    `SELECT pg_advisory_xact_lock($1, k) FROM (SELECT DISTINCT hashtext(x) AS k FROM unnest($2::text[]) AS x ORDER BY 1) AS keys`,
    [indexId, ids],
  );
}

/**
 * Index tables created before the foreign key cascaded key updates get it now: their source
 * rows could not change key while indexed (the application's UPDATE failed).
 */
async function cascadeKeyUpdates(tx: SqlExecutor, table: string): Promise<void> {
  const found = await tx.query<{ name: string; definition: string }>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
      WHERE conrelid = $1::regclass AND contype = 'f' AND confupdtype <> 'c'`,
    [table],
  );
  for (const constraint of found.rows) {
    const definition = constraint.definition.replace(/ ON UPDATE \w+( \w+)?/, '');
    await tx.query(`ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdent(constraint.name)}`);
    await tx.query(
      `ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdent(constraint.name)} ${definition} ON UPDATE CASCADE NOT VALID`,
    );
    await tx.query(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${quoteIdent(constraint.name)}`);
  }
}

function foreignKeyId(error: unknown): string | undefined {
  return /Key \([^)]*\)=\((.*)\) is not present/.exec((error as { detail?: string }).detail ?? '')?.[1];
}

function sourceRowMissing(spec: IndexSpec, id: string): VectorsyncError {
  const table = spec.source ? `${spec.source.table.schema}.${spec.source.table.name}` : 'the source table';
  return new VectorsyncError(
    ErrorCode.SourceRowMissing,
    `cannot index id ${id}: no row with that id exists in ${table}`,
    {
      details: { collection: spec.collection, id },
    },
  );
}

/** Drops every object of one pgvector index: its table, tombstones, BM25 tables and functions. */
export async function dropPgvectorIndex(db: Database, location: string): Promise<void> {
  const names = bm25Names(location);
  await db.query(
    `DROP TABLE IF EXISTS ${pgvectorChunkNames(location).chunks}, ${names.table}, ${names.tombstones}, ${names.postings}, ${names.stats}, ${names.terms}, ${names.documents}`,
  );
  await db.query(`DROP FUNCTION IF EXISTS ${names.triggerFunction}()`);
  await db.query(`DROP FUNCTION IF EXISTS ${names.truncateFunction}()`);
  await db.query(`DROP SEQUENCE IF EXISTS ${names.ordinals}`);
}
