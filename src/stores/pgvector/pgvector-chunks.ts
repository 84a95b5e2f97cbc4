import type { SqlExecutor } from '../../db/database.js';
import { quoteIdent } from '../../db/sql-identifier.js';
import type { EmbeddedDocument } from '../../pipeline/index-document.js';
import { searchByChunks } from '../chunk-hits.js';
import type { DenseSearchRequest, IndexSpec, SearchHit, StoredChunk } from '../vector-store.js';
import { hnswParams, pgvectorNames, pgvectorVectorType, vectorLiteral } from './pgvector-config.js';
import { compileFilter } from './pgvector-filter.js';
import type { PgvectorSourceKey } from './pgvector-source-key.js';

/**
 * The chunks of a chunked pgvector index: one row per (id, ordinal) in `<location>_chunks`,
 * referencing the document's record (a deleted or truncated document takes its chunks with
 * it), with its own HNSW index. Chunks are written in the transaction that writes their
 * document, and only when the document was written, so the stored chunks are always those
 * of the stored version: never a leftover ordinal, never two versions mixed.
 */
export function pgvectorChunkNames(location: string) {
  return {
    chunks: `"vectorsync"."${location}_chunks"`,
    hnswIndexName: `${location}_chunks_hnsw`,
    tenantIndexName: `${location}_chunks_tenant`,
  };
}

export function chunkTableDdl(spec: IndexSpec, key: PgvectorSourceKey): string[] {
  const names = pgvectorNames(spec.location);
  const chunkNames = pgvectorChunkNames(spec.location);
  const { m, efConstruction } = hnswParams(spec, { m: 16, efConstruction: 64 });
  return [
    `CREATE TABLE IF NOT EXISTS ${chunkNames.chunks} (
       id ${key.idType} NOT NULL REFERENCES ${names.table} (id) ON DELETE CASCADE ON UPDATE CASCADE,
       ordinal int NOT NULL,
       tenant text NOT NULL,
       content_hash text NOT NULL,
       start_offset int NOT NULL,
       end_offset int NOT NULL,
       body text NOT NULL,
       context text,
       payload jsonb NOT NULL DEFAULT '{}',
       embedding ${pgvectorVectorType(spec)}(${Number(spec.dimensions)}) NOT NULL,
       PRIMARY KEY (id, ordinal)
     ) WITH (fillfactor = 80)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(chunkNames.tenantIndexName)} ON ${chunkNames.chunks} (tenant)`,
    // Created with the (empty) table: a chunked index is new, so nothing waits on this build.
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(chunkNames.hnswIndexName)} ON ${chunkNames.chunks}
       USING hnsw (embedding ${pgvectorVectorType(spec)}_cosine_ops) WITH (m = ${Number(m)}, ef_construction = ${Number(efConstruction)})`,
  ];
}

/**
 * Replaces the chunks of the documents just written (inside their transaction): ordinals past a
 * document's new count go, and each chunk is written unless the stored one is identical (an
 * unchanged chunk keeps its row and its place in the HNSW graph).
 */
export async function writeChunks(
  tx: SqlExecutor,
  spec: IndexSpec,
  key: PgvectorSourceKey,
  documents: readonly EmbeddedDocument[],
  written: ReadonlySet<string>,
): Promise<void> {
  const chunked = documents.filter((document) => written.has(document.id));
  if (chunked.length === 0) return;
  const { chunks } = pgvectorChunkNames(spec.location);
  await tx.query(
    `DELETE FROM ${chunks} c USING unnest($1::text[], $2::int[]) AS w(id, n)
      WHERE c.id = w.id${key.idCast} AND c.ordinal >= w.n`,
    [chunked.map((document) => document.id), chunked.map((document) => document.chunks?.length ?? 0)],
  );
  const rows = chunked.flatMap((document) => (document.chunks ?? []).map((chunk) => ({ document, chunk })));
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO ${chunks} AS c (id, ordinal, tenant, content_hash, start_offset, end_offset, body, context, payload, embedding)
     SELECT u.id${key.idCast}, u.ordinal, u.tenant, u.content_hash, u.start_offset, u.end_offset, u.body, u.context, u.payload,
            u.embedding::${pgvectorVectorType(spec)}
       FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::jsonb[], $10::text[])
         AS u(id, ordinal, tenant, content_hash, start_offset, end_offset, body, context, payload, embedding)
     ON CONFLICT (id, ordinal) DO UPDATE
        SET tenant = EXCLUDED.tenant, content_hash = EXCLUDED.content_hash, start_offset = EXCLUDED.start_offset,
            end_offset = EXCLUDED.end_offset, body = EXCLUDED.body, context = EXCLUDED.context,
            payload = EXCLUDED.payload, embedding = EXCLUDED.embedding
      WHERE (c.tenant, c.content_hash, c.start_offset, c.end_offset, c.body, c.context, c.payload) IS DISTINCT FROM
            (EXCLUDED.tenant, EXCLUDED.content_hash, EXCLUDED.start_offset, EXCLUDED.end_offset, EXCLUDED.body, EXCLUDED.context, EXCLUDED.payload)`,
    [
      rows.map(({ document }) => document.id),
      rows.map(({ chunk }) => chunk.ordinal),
      rows.map(({ document }) => document.tenant),
      rows.map(({ chunk }) => chunk.contentHash),
      rows.map(({ chunk }) => chunk.start),
      rows.map(({ chunk }) => chunk.end),
      rows.map(({ chunk }) => chunk.text),
      rows.map(({ chunk }) => chunk.context ?? null),
      rows.map(({ document }) => document.payload),
      rows.map(({ chunk }) => vectorLiteral(chunk.vector)),
    ],
  );
}

interface ChunkRow {
  id: string;
  version: string;
  payload: Record<string, unknown>;
  ordinal: number;
  start_offset: number;
  end_offset: number;
  body: string;
  context: string | null;
  score: number;
}

/**
 * Semantic search over chunks: the nearest chunks of the tenant (filters on the payload each
 * chunk carries), joined to their document's record for its version (searchByChunks groups them).
 */
export async function searchChunks(
  tx: SqlExecutor,
  spec: IndexSpec,
  request: DenseSearchRequest,
): Promise<SearchHit[]> {
  const names = pgvectorNames(spec.location);
  const { chunks } = pgvectorChunkNames(spec.location);
  const vectorType = pgvectorVectorType(spec);
  return searchByChunks(request, async (limit) => {
    const params: unknown[] = [vectorLiteral(request.vector), request.tenant, limit];
    const filter = request.filter ? ` AND ${compileFilter(request.filter, 'c', params)}` : '';
    const result = await tx.query<ChunkRow>(
      `SELECT n.*, d.version::text AS version FROM (
         SELECT c.id, c.ordinal, c.start_offset, c.end_offset, c.body, c.context, c.payload,
                1 - (c.embedding <=> $1::${vectorType}) AS score
           FROM ${chunks} c
          WHERE c.tenant = $2${filter}
          ORDER BY c.embedding <=> $1::${vectorType}
          LIMIT $3) n
       JOIN ${names.table} d ON d.id = n.id`,
      params,
    );
    return result.rows.map((row) => ({
      id: String(row.id),
      version: Number(row.version),
      payload: row.payload,
      chunk: {
        ordinal: row.ordinal,
        start: row.start_offset,
        end: row.end_offset,
        text: row.body,
        ...(row.context ? { context: row.context } : {}),
        score: Number(row.score),
      },
    }));
  });
}

export async function readChunks(
  db: SqlExecutor,
  spec: IndexSpec,
  ids: readonly string[],
  tenant?: string,
): Promise<Map<string, StoredChunk[]>> {
  const found = new Map<string, StoredChunk[]>();
  if (ids.length === 0) return found;
  const { chunks } = pgvectorChunkNames(spec.location);
  const result = await db.query<{
    id: string;
    ordinal: number;
    tenant: string;
    start_offset: number;
    end_offset: number;
    body: string;
    context: string | null;
    content_hash: string;
  }>(
    `SELECT id::text AS id, ordinal, tenant, start_offset, end_offset, body, context, content_hash
       FROM ${chunks} WHERE id::text = ANY($1::text[]) AND ($2::text IS NULL OR tenant = $2) ORDER BY id, ordinal`,
    [ids, tenant ?? null],
  );
  for (const row of result.rows) {
    const list = found.get(row.id) ?? [];
    list.push({
      ordinal: row.ordinal,
      tenant: row.tenant,
      start: row.start_offset,
      end: row.end_offset,
      text: row.body,
      ...(row.context ? { context: row.context } : {}),
      contentHash: row.content_hash,
    });
    found.set(row.id, list);
  }
  return found;
}
