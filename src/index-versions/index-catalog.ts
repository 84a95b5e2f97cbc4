import { canonicalJson } from '../config/canonical-json.js';
import { analyzerSchema, type EmbedderConfig } from '../config/config-schema.js';
import { hashCollectionLock } from '../db/collection-lock.js';
import type { Database, SqlExecutor } from '../db/database.js';
import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import { ErrorCode, VectorsyncError } from '../errors.js';

export type IndexState = 'building' | 'active' | 'retired';

/** One physical index of a collection, as recorded in vectorsync.indexes. */
export interface IndexRecord {
  id: number;
  collection: string;
  store: string;
  storeKind: string;
  location: string;
  embedderModel: string;
  dimensions: number;
  /**
   * The embedder config that built this version (null: recorded before schema version 9 and not
   * yet filled in): its documents and queries are embedded with it, whatever the config names.
   */
  embedderConfig: EmbedderConfig | null;
  params: Record<string, unknown>;
  state: IndexState;
  createdAt: Date;
  activatedAt: Date | null;
}

interface IndexRow {
  id: number;
  collection: string;
  store: string;
  store_kind: string;
  location: string;
  embedder_model: string;
  dimensions: number;
  embedder_config: EmbedderConfig | null;
  params: Record<string, unknown>;
  state: IndexState;
  created_at: Date;
  activated_at: Date | null;
}

function toRecord(row: IndexRow): IndexRecord {
  return {
    id: row.id,
    collection: row.collection,
    store: row.store,
    storeKind: row.store_kind,
    location: row.location,
    embedderModel: row.embedder_model,
    dimensions: row.dimensions,
    embedderConfig: row.embedder_config,
    params: row.params,
    state: row.state,
    createdAt: new Date(row.created_at),
    activatedAt: row.activated_at ? new Date(row.activated_at) : null,
  };
}

const columns =
  'id, collection, store, store_kind, location, embedder_model, dimensions, embedder_config, params, state, created_at, activated_at';

/** Indexes that receive writes: the active one and any being built beside it. */
export async function liveIndexes(db: SqlExecutor, collection: string): Promise<IndexRecord[]> {
  const result = await db.query<IndexRow>(
    `SELECT ${columns} FROM vectorsync.indexes WHERE collection = $1 AND state IN ('active', 'building') ORDER BY id`,
    [collection],
  );
  return result.rows.map(toRecord);
}

/** The live indexes of every collection, in one read (a consistent catalog snapshot). */
export async function allLiveIndexes(db: SqlExecutor): Promise<IndexRecord[]> {
  const result = await db.query<IndexRow>(
    `SELECT ${columns} FROM vectorsync.indexes WHERE state IN ('active', 'building') ORDER BY collection, id`,
  );
  return result.rows.map(toRecord);
}

export async function listIndexes(db: SqlExecutor, collection?: string): Promise<IndexRecord[]> {
  const result = await db.query<IndexRow>(
    `SELECT ${columns} FROM vectorsync.indexes WHERE ($1::text IS NULL OR collection = $1) ORDER BY collection, id`,
    [collection ?? null],
  );
  return result.rows.map(toRecord);
}

export async function createIndexRecord(
  db: SqlExecutor,
  input: {
    collection: string;
    store: string;
    storeKind: string;
    /** The embedder that builds it: its identity, and the config to make it again. */
    embedding: Pick<EmbeddingProfile, 'embedder' | 'config'>;
    params: Record<string, unknown>;
    state: IndexState;
  },
): Promise<IndexRecord> {
  const result = await db.query<IndexRow>(
    `WITH next AS (SELECT nextval(pg_get_serial_sequence('vectorsync.indexes', 'id'))::int AS id)
     INSERT INTO vectorsync.indexes (id, collection, store, store_kind, location, embedder_model, dimensions, embedder_config, params, state, activated_at)
     SELECT next.id, $1, $2, $3, 'idx_' || $1 || '_' || next.id, $4, $5, $8, $6, $7, CASE WHEN $7 = 'active' THEN now() END FROM next
     RETURNING ${columns}`,
    [
      input.collection,
      input.store,
      input.storeKind,
      input.embedding.embedder.modelId,
      input.embedding.embedder.dimensions,
      input.params,
      input.state,
      input.embedding.config,
    ],
  );
  return toRecord(result.rows[0]!);
}

/**
 * The embedder the config names must be the one that built the index, where a mismatch would
 * mix two models' vectors (setup against the active version, a version recorded without its
 * embedder config).
 */
export function assertEmbedderMatches(
  index: IndexRecord,
  embedder: { modelId: string; dimensions: number },
): void {
  if (index.embedderModel !== embedder.modelId || index.dimensions !== embedder.dimensions)
    throw embedderMismatch(index, embedder);
}

export function embedderMismatch(
  index: IndexRecord,
  embedder: { modelId: string; dimensions: number },
): VectorsyncError {
  return new VectorsyncError(
    ErrorCode.EmbedderMismatch,
    `collection "${index.collection}": index ${index.location} was built with ${index.embedderModel} (${index.dimensions} dimensions) but the config now names ${embedder.modelId} (${embedder.dimensions} dimensions); build a new version with it beside the one serving (vectorsync reembed --collection ${index.collection}: searches stay on the current version until the cut-over) or restore the previous embedder config`,
    {
      details: {
        collection: index.collection,
        indexModel: index.embedderModel,
        indexDimensions: index.dimensions,
        configuredModel: embedder.modelId,
        configuredDimensions: embedder.dimensions,
      },
    },
  );
}

/**
 * Keyword search is only right if queries are analysed like the documents were: the
 * analyzer settings are recorded with the index, and a change needs a rebuild.
 */
export function assertAnalyzerMatches(index: IndexRecord, analyzer: unknown): void {
  const recorded = index.params.analyzer;
  if (recorded !== undefined && !sameAnalyzerSettings(recorded, analyzer)) {
    throw new VectorsyncError(
      ErrorCode.AnalyzerMismatch,
      `collection "${index.collection}": index ${index.location} was analysed with ${JSON.stringify(recorded)} but the config now says ${JSON.stringify(analyzer)}; build a new version with them beside the one serving (vectorsync reembed --collection ${index.collection}) or restore the previous analyzer settings`,
      { details: { collection: index.collection, indexAnalyzer: recorded, configuredAnalyzer: analyzer } },
    );
  }
}

/**
 * Compared as settings, not as text: Postgres' jsonb reorders keys. A setting added after the
 * index was recorded counts as its default (`maxTokenLength` only changes tokens longer than
 * 255 characters, and stemming of tokens over 64 letters, which no real text has).
 */
function sameAnalyzerSettings(recorded: unknown, configured: unknown): boolean {
  const parsed = analyzerSchema.safeParse(recorded);
  return canonicalJson(parsed.success ? parsed.data : recorded) === canonicalJson(configured);
}

/**
 * Makes a building index the one searches read, atomically: the previously active index of
 * the collection is retired in the same transaction. Returns the retired records (their
 * physical data is the caller's to drop once nothing reads it).
 */
export async function activateIndex(
  db: Database,
  collection: string,
  indexId: number,
): Promise<{ activated: IndexRecord; retired: IndexRecord[] }> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [hashCollectionLock(collection)]);
    return swapActive(tx, collection, indexId);
  });
}

async function swapActive(
  db: SqlExecutor,
  collection: string,
  indexId: number,
): Promise<{ activated: IndexRecord; retired: IndexRecord[] }> {
  const retired = await db.query<IndexRow>(
    `WITH target AS (
       SELECT id FROM vectorsync.indexes WHERE id = $2 AND collection = $1 AND state IN ('building', 'active')
     )
     UPDATE vectorsync.indexes SET state = 'retired', retired_at = now()
      WHERE collection = $1 AND state = 'active' AND id <> $2 AND EXISTS (SELECT 1 FROM target)
      RETURNING ${columns}`,
    [collection, indexId],
  );
  const activated = await db.query<IndexRow>(
    `UPDATE vectorsync.indexes SET state = 'active', activated_at = coalesce(activated_at, now())
      WHERE id = $2 AND collection = $1 AND state IN ('building', 'active')
      RETURNING ${columns}`,
    [collection, indexId],
  );
  if (!activated.rows[0]) {
    throw new VectorsyncError(
      ErrorCode.IndexNotFound,
      `index ${indexId} of collection "${collection}" is not building or active`,
      { details: { collection, indexId } },
    );
  }
  return { activated: toRecord(activated.rows[0]), retired: retired.rows.map(toRecord) };
}

/** Stops writing to an index (an abandoned build, or an old index after a cut-over). */
export async function retireIndex(db: SqlExecutor, indexId: number): Promise<IndexRecord | undefined> {
  const result = await db.query<IndexRow>(
    `UPDATE vectorsync.indexes SET state = 'retired', retired_at = now()
      WHERE id = $1 AND state <> 'retired' RETURNING ${columns}`,
    [indexId],
  );
  return result.rows[0] ? toRecord(result.rows[0]) : undefined;
}

/** Retires every live version of a collection at once (setup, when a collection has no active version); returns them. */
export async function retireLiveIndexes(db: SqlExecutor, collection: string): Promise<IndexRecord[]> {
  const result = await db.query<IndexRow>(
    `UPDATE vectorsync.indexes SET state = 'retired', retired_at = now()
      WHERE collection = $1 AND state IN ('active', 'building') RETURNING ${columns}`,
    [collection],
  );
  return result.rows.map(toRecord).sort((a, b) => a.id - b.id);
}

export async function getIndex(db: SqlExecutor, indexId: number): Promise<IndexRecord> {
  const result = await db.query<IndexRow>(`SELECT ${columns} FROM vectorsync.indexes WHERE id = $1`, [
    indexId,
  ]);
  if (!result.rows[0])
    throw new VectorsyncError(ErrorCode.IndexNotFound, `no index with id ${indexId}`, {
      details: { indexId },
    });
  return toRecord(result.rows[0]);
}
