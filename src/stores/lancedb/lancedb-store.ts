import type * as Lancedb from '@lancedb/lancedb';
import type * as Arrow from 'apache-arrow';
import { hashCollectionLock } from '../../db/collection-lock.js';
import { connectionFailureReason, isConnectionError } from '../../db/connection-failure.js';
import type { Database } from '../../db/database.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import type { EmbeddedDocument } from '../../pipeline/index-document.js';
import { idBucket } from '../id-bucket.js';
import { isChunked } from '../index-params.js';
import { BucketChecksumAccumulator } from '../record-checksum.js';
import { decodeScanCursor, encodeScanCursor, validateScanRequest } from '../scan-cursor.js';
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
import {
  assertQueryDimensions,
  byScoreThenId,
  deleteDecision,
  inRequestOrder,
  recordFingerprint,
  type StoredState,
  upsertIntake,
  upsertWins,
} from '../version-guard.js';
import {
  chunkTableName,
  chunkTableSchema,
  deleteChunks,
  readChunks,
  searchChunks,
  writeChunks,
} from './lancedb-chunks.js';
import { filterColumn, filterValue, type LancedbStoreConfig, silenceLancedbLogs } from './lancedb-config.js';
import { compileLancedbFilter, sqlString } from './lancedb-filter.js';

const LANCEDB = '@lancedb/lancedb';
const ARROW = 'apache-arrow';

interface Modules {
  lancedb: typeof Lancedb;
  arrow: typeof Arrow;
}

type Row = Record<string, unknown>;

/**
 * LanceDB, embedded: one table per index version in `dataDir`. Every record is one row keyed
 * by the source id; a delete turns the row into a tombstone (`deleted = true`, no vector, no
 * terms) so the version guard survives it, and every read excludes tombstones. Writes are
 * `mergeInsert` with the guard as its update condition. Writes to one table are serialised in
 * this process: two concurrent `mergeInsert`s that both find no row for an id both insert it
 * (a duplicate id, e.g. a live copy beside a tombstone), and one whose snapshot predates the
 * other's commit can overwrite a newer version. Across processes they are serialised by an
 * advisory lock in the source database.
 * Keyword search is LanceDB's BM25 full-text index over the analysed terms vectorsync
 * computed (a whitespace tokenizer with no further processing), so both stores match the same
 * terms; the scores differ (docs/stores.md#lancedb).
 */
/** Tries at dropping a table whose directory another process is still writing into. */
const DROP_ATTEMPTS = 8;

export class LancedbStore implements VectorStore {
  readonly kind = 'lancedb';
  readonly capabilities: StoreCapabilities = {
    sourceForeignKey: false,
    keyword: true,
    filters: true,
    chunks: true,
  };
  private modules: Promise<Modules> | undefined;
  private connection: Promise<Lancedb.Connection> | undefined;
  private readonly tables = new Map<string, Promise<Lancedb.Table>>();
  private readonly writeQueues = new Map<string, Promise<unknown>>();
  /** Every operation under way, so that close() returns only once LanceDB has stopped writing files. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly config: LancedbStoreConfig,
    private readonly logger: Logger = silentLogger,
    /** The source database: its advisory locks serialise writes to a table across processes. */
    private readonly lockDb?: Database,
  ) {}

  async ensureIndex(spec: IndexSpec): Promise<void> {
    await this.run(async () => {
      const { lancedb, arrow } = await this.load();
      const db = await this.connect();
      const names = await db.tableNames();
      let table: Lancedb.Table;
      if (names.includes(spec.location)) {
        table = await db.openTable(spec.location);
        await this.addMissingFilterColumns(table, spec, arrow);
      } else {
        table = await db.createEmptyTable(spec.location, tableSchema(spec, arrow), { existOk: true });
      }
      this.tables.set(spec.location, Promise.resolve(table));
      const indexes = await table.listIndices();
      const indexed = new Set(indexes.flatMap((index) => index.columns));
      if (!indexed.has('terms')) {
        // Our analyzer already produced the terms: LanceDB must only split on whitespace.
        await table.createIndex('terms', {
          config: lancedb.Index.fts({
            baseTokenizer: 'whitespace',
            lowercase: false,
            stem: false,
            removeStopWords: false,
            asciiFolding: false,
            withPosition: false,
            maxTokenLength: 1024,
          }),
          replace: false,
        });
      }
      for (const column of ['id', 'tenant', 'bucket'] as const) {
        if (!indexed.has(column))
          await table.createIndex(column, { config: lancedb.Index.btree(), replace: false });
      }
      if (isChunked(spec)) await this.ensureChunkTable(spec, db, lancedb, arrow);
    });
  }

  private async ensureChunkTable(
    spec: IndexSpec,
    db: Lancedb.Connection,
    lancedb: typeof Lancedb,
    arrow: typeof Arrow,
  ): Promise<void> {
    const name = chunkTableName(spec.location);
    let table: Lancedb.Table;
    if ((await db.tableNames()).includes(name)) {
      table = await db.openTable(name);
      await this.addMissingFilterColumns(table, spec, arrow);
    } else {
      table = await db.createEmptyTable(
        name,
        chunkTableSchema(spec, arrow, (field, type) => filterField(field, type, arrow)),
        { existOk: true },
      );
    }
    this.tables.set(name, Promise.resolve(table));
    const indexed = new Set((await table.listIndices()).flatMap((index) => index.columns));
    for (const column of ['id', 'tenant'] as const) {
      if (!indexed.has(column))
        await table.createIndex(column, { config: lancedb.Index.btree(), replace: false });
    }
  }

  /** A payload field added to the collection after the table was created gets its (empty) column. */
  private async addMissingFilterColumns(table: Lancedb.Table, spec: IndexSpec, arrow: typeof Arrow) {
    const existing = new Set((await table.schema()).fields.map((field) => field.name));
    const missing = spec.payloadFields.filter((field) => !existing.has(filterColumn(field.name)));
    if (missing.length === 0) return;
    await table.addColumns(missing.map((field) => filterField(field.name, field.type, arrow)));
  }

  async upsert(
    spec: IndexSpec,
    documents: readonly EmbeddedDocument[],
    options: UpsertOptions = {},
  ): Promise<ApplyResult[]> {
    const overwrite = options.overwrite === true;
    if (documents.length === 0) return [];
    const { results, valid } = upsertIntake(spec, documents);
    if (valid.length > 0) {
      await this.run(() =>
        this.serialised(spec, async () => {
          const table = await this.table(spec);
          const stored = await this.storedStates(
            table,
            valid.map((document) => document.id),
          );
          const rows: Row[] = [];
          for (const document of valid) {
            const row = documentRow(spec, document);
            const newer = upsertWins(
              stored.get(document.id),
              { version: document.version, fingerprint: String(row.fingerprint) },
              overwrite,
            );
            results.set(document.id, { id: document.id, outcome: newer ? 'applied' : 'skipped_stale' });
            if (newer) rows.push(row);
          }
          if (rows.length === 0) return;
          if (isChunked(spec)) {
            const winners = new Set(rows.map((row) => String(row.id)));
            await writeChunks(
              await this.chunkTable(spec),
              spec,
              valid.filter((document) => winners.has(document.id)),
            );
          }
          // The condition is the guard itself: a commit that lost a race re-evaluates it against
          // the winner's data, so the decision above can only err towards writing nothing.
          await table
            .mergeInsert('id')
            .whenMatchedUpdateAll({
              where: overwrite
                ? 'target.deleted = true OR target.version <> source.version OR target.fingerprint <> source.fingerprint'
                : 'target.version < source.version OR (target.version = source.version AND target.deleted = false AND target.fingerprint <> source.fingerprint)',
            })
            .whenNotMatchedInsertAll()
            .execute(rows);
        }),
      );
    }
    return inRequestOrder(documents, results);
  }

  async delete(spec: IndexSpec, requests: readonly DeleteRequest[]): Promise<ApplyResult[]> {
    if (requests.length === 0) return [];
    const unique = [...new Map(requests.map((request) => [request.id, request])).values()];
    const outcomes = await this.run(() =>
      this.serialised(spec, async () => {
        const table = await this.table(spec);
        const stored = await this.storedStates(
          table,
          unique.map((request) => request.id),
        );
        const outcome = new Map<string, ApplyResult['outcome']>();
        const tombstones: Row[] = [];
        for (const request of unique) {
          const decision = deleteDecision(stored.get(request.id), request);
          outcome.set(request.id, decision.outcome);
          if (decision.outcome === 'applied' && decision.tombstone)
            tombstones.push(
              tombstoneRow(spec, request.id, decision.tombstone.tenant, decision.tombstone.version),
            );
        }
        if (tombstones.length > 0) {
          // A delete wins a tie with a live record; a live record of another tenant is left alone.
          await table
            .mergeInsert('id')
            .whenMatchedUpdateAll({
              where:
                "target.version <= source.version AND (target.deleted = true OR target.tenant = source.tenant OR source.tenant = '')",
            })
            .whenNotMatchedInsertAll()
            .execute(tombstones);
        }
        if (isChunked(spec)) {
          // A record deleted takes its chunks; one left standing (newer, another tenant's) keeps them.
          const removed = unique
            .filter((request) => outcome.get(request.id) === 'applied')
            .map((request) => request.id);
          const still = await this.storedStates(table, removed);
          await deleteChunks(
            await this.chunkTable(spec),
            removed.filter((id) => still.get(id)?.deleted !== false),
          );
        }
        return outcome;
      }),
    );
    return inRequestOrder(requests, outcomes);
  }

  async truncate(spec: IndexSpec): Promise<void> {
    await this.run(() =>
      this.serialised(spec, async () => {
        await (await this.table(spec)).delete('true');
        if (isChunked(spec)) await (await this.chunkTable(spec)).delete('true');
      }),
    );
  }

  /**
   * Runs one write of a table after the previous one in this process has finished, holding an
   * advisory lock of the source database so writers in other processes (a `migrate-store` fill
   * beside the workers) wait too (see the class comment).
   */
  private serialised<T>(spec: IndexSpec, write: () => Promise<T>): Promise<T> {
    const previous = this.writeQueues.get(spec.location) ?? Promise.resolve();
    const lockDb = this.lockDb;
    const locked = lockDb
      ? () =>
          lockDb.transaction(async (tx) => {
            await tx.query('SELECT pg_advisory_xact_lock($1)', [
              hashCollectionLock(`lancedb:${spec.location}`),
            ]);
            return write();
          })
      : write;
    const next = previous.then(locked, locked);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.writeQueues.set(spec.location, settled);
    void settled.then(() => {
      if (this.writeQueues.get(spec.location) === settled) this.writeQueues.delete(spec.location);
    });
    return next;
  }

  async search(spec: IndexSpec, request: DenseSearchRequest): Promise<SearchHit[]> {
    assertQueryDimensions(spec, request.vector);
    if (isChunked(spec))
      return this.run(async () => {
        const documents = await this.table(spec);
        // Chunks are written before their document's row and removed after its tombstone: only
        // chunks of the live version, of this tenant, may answer (filtered before grouping, so
        // the search still reads on until it has k documents).
        return searchChunks(
          await this.chunkTable(spec),
          request,
          { nprobes: this.config.nprobes, refineFactor: this.config.refineFactor },
          async (candidates) => {
            const live = await this.storedStates(documents, [...new Set(candidates.map((c) => c.id))]);
            return candidates.filter((candidate) => {
              const state = live.get(candidate.id);
              return (
                state !== undefined &&
                !state.deleted &&
                state.version === candidate.version &&
                state.tenant === request.tenant
              );
            });
          },
        );
      });
    const rows = await this.run(async () => {
      const table = await this.table(spec);
      return table
        .vectorSearch(Array.from(request.vector))
        .column('vector')
        .distanceType('cosine')
        .where(liveWhere(request.tenant, request.filter ? compileLancedbFilter(request.filter) : undefined))
        .nprobes(this.config.nprobes)
        .refineFactor(this.config.refineFactor)
        .select(['id', 'version', 'payload', '_distance'])
        .limit(request.k)
        .toArray();
    });
    return rows.map((row: Row) => toHit(row, 1 - Number(row._distance))).sort(byScoreThenId);
  }

  /**
   * LanceDB's BM25 over the analysed terms, prefiltered by tenant and filter. Its statistics
   * (document count, average length, document frequency) are the table's, across tenants, and
   * k1/b are LanceDB's (1.2/0.75): `request.bm25` cannot be honoured (docs/stores.md).
   */
  async keywordSearch(spec: IndexSpec, request: KeywordSearchRequest): Promise<SearchHit[]> {
    if (request.terms.length === 0) return [];
    const query = request.terms.map((term) => term.term).join(' ');
    const rows = await this.run(async () => {
      const table = await this.table(spec);
      return table
        .query()
        .fullTextSearch(query, { columns: 'terms' })
        .where(liveWhere(request.tenant, request.filter ? compileLancedbFilter(request.filter) : undefined))
        .select(['id', 'version', 'payload', '_score'])
        .limit(request.k)
        .toArray();
    });
    return rows.map((row: Row) => toHit(row, Number(row._score))).sort(byScoreThenId);
  }

  async scan(spec: IndexSpec, request: ScanRequest): Promise<ScanPage> {
    validateScanRequest(request);
    const after = request.cursor ? decodeScanCursor(request.cursor) : undefined;
    const conditions = [
      'deleted = false',
      `bucket >= ${request.bucketFrom}`,
      `bucket <= ${request.bucketTo}`,
      ...(request.tenant !== undefined ? [`tenant = ${sqlString(request.tenant)}`] : []),
      ...(after
        ? [`(bucket > ${after.bucket} OR (bucket = ${after.bucket} AND id > ${sqlString(after.id)}))`]
        : []),
    ];
    const rows = await this.run(async () =>
      (await this.table(spec))
        .query()
        .where(conditions.join(' AND '))
        .orderBy([
          { columnName: 'bucket', ascending: true, nullsFirst: false },
          { columnName: 'id', ascending: true, nullsFirst: false },
        ])
        .select(['id', 'tenant', 'version', 'content_hash', 'bucket'])
        .limit(request.limit)
        .toArray(),
    );
    const last = rows.at(-1) as Row | undefined;
    return {
      records: rows.map((row: Row) => ({
        id: String(row.id),
        tenant: String(row.tenant),
        version: Number(row.version),
        contentHash: String(row.content_hash),
      })),
      cursor:
        last && rows.length === request.limit
          ? encodeScanCursor({ bucket: Number(last.bucket), id: String(last.id) })
          : null,
    };
  }

  /** Streams (id, version, hash, bucket) of the live records once; memory is one entry per group. */
  async bucketChecksums(
    spec: IndexSpec,
    request: { tenant?: string; bucketBits: number },
  ): Promise<BucketChecksum[]> {
    const accumulator = new BucketChecksumAccumulator(request.bucketBits);
    await this.run(async () => {
      const query = (await this.table(spec))
        .query()
        .where(liveWhere(request.tenant))
        .select(['id', 'version', 'content_hash', 'bucket']);
      for await (const batch of query) {
        const ids = batch.getChild('id')!;
        const versions = batch.getChild('version')!;
        const hashes = batch.getChild('content_hash')!;
        const buckets = batch.getChild('bucket')!;
        for (let i = 0; i < batch.numRows; i++) {
          accumulator.add(Number(buckets.get(i)), {
            id: String(ids.get(i)),
            version: Number(versions.get(i)),
            contentHash: String(hashes.get(i)),
          });
        }
      }
    });
    return accumulator.result();
  }

  async tombstoneVersions(spec: IndexSpec, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const stored = await this.run(async () => this.storedStates(await this.table(spec), ids));
    const versions = new Map<string, number>();
    for (const [id, state] of stored) if (state.deleted) versions.set(id, state.version);
    return versions;
  }

  async readChunks(
    spec: IndexSpec,
    ids: readonly string[],
    tenant?: string,
  ): Promise<Map<string, StoredChunk[]>> {
    if (!isChunked(spec)) return new Map();
    return this.run(async () => readChunks(await this.chunkTable(spec), ids, tenant));
  }

  async count(spec: IndexSpec, tenant?: string): Promise<number> {
    return this.run(async () => (await this.table(spec)).countRows(liveWhere(tenant)));
  }

  async drop(spec: IndexSpec): Promise<void> {
    await this.run(async () => {
      const db = await this.connect();
      this.tables.delete(spec.location);
      const chunks = chunkTableName(spec.location);
      this.tables.delete(chunks);
      if ((await db.tableNames()).includes(chunks)) await db.dropTable(chunks);
      // Another process may still be finishing a write or an optimize of a version just retired
      // (it stops once it reloads the catalog): its new files make the directory removal fail.
      // Dropping is idempotent, so it is tried again once that work has had time to end.
      for (let attempt = 1; ; attempt++) {
        try {
          if ((await db.tableNames()).includes(spec.location)) await db.dropTable(spec.location);
          return;
        } catch (error) {
          if (attempt >= DROP_ATTEMPTS || !/Directory not empty/i.test((error as Error).message)) throw error;
          this.logger.warn(
            { index: spec.location, attempt },
            'LanceDB table busy while dropping; trying again',
          );
          await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
        }
      }
    });
  }

  /**
   * Folds new rows into the full-text and scalar indexes and compacts small fragments, and
   * builds the vector index once the table is large enough (below that, exact search is both
   * exact and fast). Safe alongside writers: LanceDB retries conflicting commits.
   */
  async maintain(spec: IndexSpec): Promise<void> {
    await this.run(async () => {
      const { lancedb } = await this.load();
      const table = await this.table(spec);
      const indexes = await table.listIndices();
      if (!indexes.some((index) => index.columns.includes('vector'))) {
        const rows = await table.countRows('deleted = false');
        if (rows >= this.config.annIndexMinRows) {
          this.logger.info({ index: spec.location, rows }, 'building LanceDB vector index');
          await table.createIndex('vector', {
            config: lancedb.Index.hnswSq({ distanceType: 'cosine' }),
            replace: false,
          });
        }
      }
      await table.optimize();
      if (isChunked(spec)) {
        const chunks = await this.chunkTable(spec);
        const chunkIndexes = await chunks.listIndices();
        if (!chunkIndexes.some((index) => index.columns.includes('vector'))) {
          const rows = await chunks.countRows();
          if (rows >= this.config.annIndexMinRows)
            await chunks.createIndex('vector', {
              config: lancedb.Index.hnswSq({ distanceType: 'cosine' }),
              replace: false,
            });
        }
        await chunks.optimize();
      }
    });
  }

  async ping(): Promise<void> {
    await this.run(async () => {
      await (await this.connect()).tableNames();
    });
  }

  async close(): Promise<void> {
    // A table closed under a write still running in LanceDB's native threads is not safe.
    while (this.writeQueues.size > 0 || this.inFlight.size > 0) {
      await Promise.allSettled([...this.writeQueues.values(), ...this.inFlight]);
    }
    // The native handles are released by garbage collection, not closed here: an explicit
    // close() of LanceDB 0.30's table and connection handles crashed the process (SIGSEGV) about
    // one time in three when it exited soon after (test/tenant-move-delete.test.ts).
    await Promise.all([...this.tables.values()].map((table) => table.catch(() => undefined)));
    await this.connection?.catch(() => undefined);
    this.tables.clear();
    this.connection = undefined;
  }

  private load(): Promise<Modules> {
    this.modules ??= (async () => {
      silenceLancedbLogs();
      try {
        const [lancedb, arrow] = await Promise.all([
          import(LANCEDB) as Promise<typeof Lancedb>,
          import(ARROW) as Promise<typeof Arrow>,
        ]);
        return { lancedb, arrow };
      } catch (error) {
        this.modules = undefined;
        throw new VectorsyncError(
          ErrorCode.OptionalDependencyMissing,
          `the "lancedb" store needs the optional packages ${LANCEDB} and ${ARROW}: npm install ${LANCEDB} ${ARROW}@18.1.0`,
          { cause: error, details: { packages: [LANCEDB, ARROW] } },
        );
      }
    })();
    return this.modules;
  }

  private connect(): Promise<Lancedb.Connection> {
    // Every read checks for commits by other handles (other processes, other stores on the
    // same directory): the version guard's read and every search must see the latest data.
    this.connection ??= this.load().then(({ lancedb }) =>
      lancedb.connect(this.config.dataDir, { readConsistencyInterval: 0 }),
    );
    return this.connection;
  }

  private table(spec: IndexSpec): Promise<Lancedb.Table> {
    return this.tableNamed(spec.location);
  }

  private chunkTable(spec: IndexSpec): Promise<Lancedb.Table> {
    return this.tableNamed(chunkTableName(spec.location));
  }

  private tableNamed(name: string): Promise<Lancedb.Table> {
    let table = this.tables.get(name);
    if (!table) {
      table = this.connect().then((db) => db.openTable(name));
      table.catch(() => this.tables.delete(name));
      this.tables.set(name, table);
    }
    return table;
  }

  private async storedStates(
    table: Lancedb.Table,
    ids: readonly string[],
  ): Promise<Map<string, StoredState>> {
    if (ids.length === 0) return new Map();
    const rows = await table
      .query()
      .where(`id IN (${ids.map(sqlString).join(', ')})`)
      .select(['id', 'tenant', 'version', 'deleted', 'fingerprint'])
      .toArray();
    return new Map(
      rows.map((row: Row) => [
        String(row.id),
        {
          tenant: String(row.tenant),
          version: Number(row.version),
          deleted: Boolean(row.deleted),
          fingerprint: String(row.fingerprint),
        },
      ]),
    );
  }

  /** Maps LanceDB failures to vectorsync errors once, at the store boundary. */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    const operation = work();
    this.inFlight.add(operation);
    try {
      return await operation;
    } catch (error) {
      if (error instanceof VectorsyncError) throw error;
      if (isConnectionError(error)) {
        // Writes hold a lock in Postgres: a restart of it is a reason to retry, not a failed
        // change (the write is idempotent and version-guarded). The driver's text stays in `cause`.
        throw new VectorsyncError(
          ErrorCode.StoreUnavailable,
          `lancedb store: the Postgres session holding its write lock was lost (${connectionFailureReason(error) ?? 'connection failed'})`,
          { cause: error, transient: true },
        );
      }
      const message = (error as Error).message ?? String(error);
      if (/was not found|Table .* not found/i.test(message)) {
        throw new VectorsyncError(ErrorCode.IndexNotFound, `LanceDB table missing: ${message}`, {
          cause: error,
        });
      }
      const transient =
        /(EACCES|EIO|ENOSPC|EMFILE|timed out|Too many open files|Commit conflict|retries)/i.test(message);
      throw new VectorsyncError(
        transient ? ErrorCode.StoreUnavailable : ErrorCode.StoreFailed,
        `lancedb store error: ${message}`,
        { cause: error, transient },
      );
    } finally {
      this.inFlight.delete(operation);
    }
  }
}

/** Every read path: live records of one tenant (or all, for scans and counts), then the filter. */
function liveWhere(tenant: string | undefined, filter?: string): string {
  return [
    'deleted = false',
    ...(tenant !== undefined ? [`tenant = ${sqlString(tenant)}`] : []),
    ...(filter ? [filter] : []),
  ].join(' AND ');
}

function tableSchema(spec: IndexSpec, arrow: typeof Arrow): Arrow.Schema {
  const { Field, Schema, Utf8, Int32, Int64, Bool, FixedSizeList, Float32 } = arrow;
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('tenant', new Utf8(), false),
    new Field('bucket', new Int32(), false),
    new Field('version', new Int64(), false),
    new Field('deleted', new Bool(), false),
    new Field('content_hash', new Utf8(), false),
    new Field('fingerprint', new Utf8(), false),
    new Field('payload', new Utf8(), false),
    new Field('terms', new Utf8(), false),
    ...spec.payloadFields.map((field) => filterField(field.name, field.type, arrow)),
    new Field('vector', new FixedSizeList(spec.dimensions, new Field('item', new Float32(), true)), true),
  ]);
}

function filterField(name: string, type: string, arrow: typeof Arrow): Arrow.Field {
  const { Field, Utf8, Float64, Int32, Int64, List } = arrow;
  const dataType =
    type === 'number'
      ? new Float64()
      : type === 'boolean'
        ? new Int32()
        : type === 'timestamp'
          ? new Int64()
          : type === 'string[]'
            ? new List(new Field('item', new Utf8(), true))
            : type === 'number[]'
              ? new List(new Field('item', new Float64(), true))
              : new Utf8();
  return new Field(filterColumn(name), dataType, true);
}

/** The analysed keyword text as LanceDB indexes it: each term repeated by its frequency. */
function termsText(terms: Record<string, number>): string {
  return Object.entries(terms)
    .flatMap(([term, frequency]) => Array<string>(frequency).fill(term))
    .join(' ');
}

function documentRow(spec: IndexSpec, document: EmbeddedDocument): Row {
  const payload = JSON.stringify(document.payload);
  const terms = termsText(document.terms);
  const row: Row = {
    id: document.id,
    tenant: document.tenant,
    bucket: idBucket(document.id),
    version: BigInt(document.version),
    deleted: false,
    content_hash: document.contentHash,
    fingerprint: recordFingerprint(document),
    payload,
    terms,
    vector: Array.from(document.vector),
  };
  for (const field of spec.payloadFields)
    row[filterColumn(field.name)] = filterValue(field, document.payload[field.name]);
  return row;
}

function tombstoneRow(spec: IndexSpec, id: string, tenant: string, version: number): Row {
  const row: Row = {
    id,
    tenant,
    bucket: idBucket(id),
    version: BigInt(version),
    deleted: true,
    content_hash: '',
    fingerprint: '',
    payload: '{}',
    terms: '',
    vector: null,
  };
  for (const field of spec.payloadFields) row[filterColumn(field.name)] = null;
  return row;
}

function toHit(row: Row, score: number): SearchHit {
  return {
    id: String(row.id),
    score,
    version: Number(row.version),
    payload: JSON.parse(String(row.payload)) as Record<string, unknown>,
  };
}
