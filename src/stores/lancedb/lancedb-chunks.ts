import type * as Lancedb from '@lancedb/lancedb';
import type * as Arrow from 'apache-arrow';
import type { EmbeddedDocument } from '../../pipeline/index-document.js';
import { type ChunkCandidate, searchByChunks } from '../chunk-hits.js';
import type { DenseSearchRequest, IndexSpec, SearchHit, StoredChunk } from '../vector-store.js';
import { filterColumn, filterValue } from './lancedb-config.js';
import { compileLancedbFilter, sqlString } from './lancedb-filter.js';

/**
 * The chunks of a chunked LanceDB index: a table of its own (`<location>_chunks`), one row per
 * (id, ordinal) with the document's version, payload filter columns and the chunk's vector.
 * Written inside the document's serialised write, before the document's own row and only when
 * that write wins the guard: the chunks of the winning version go in, ordinals past its count
 * go, and the document's row, written last, marks the write done (a write interrupted before
 * it is repeated whole by the retry, since the document still looks older).
 */
export function chunkTableName(location: string): string {
  return `${location}_chunks`;
}

type Row = Record<string, unknown>;

export function chunkTableSchema(
  spec: IndexSpec,
  arrow: typeof Arrow,
  filterField: (name: string, type: string) => Arrow.Field,
): Arrow.Schema {
  const { Field, Schema, Utf8, Int32, Int64, FixedSizeList, Float32 } = arrow;
  return new Schema([
    new Field('chunk_key', new Utf8(), false),
    new Field('id', new Utf8(), false),
    new Field('ordinal', new Int32(), false),
    new Field('tenant', new Utf8(), false),
    new Field('version', new Int64(), false),
    new Field('content_hash', new Utf8(), false),
    new Field('start_offset', new Int32(), false),
    new Field('end_offset', new Int32(), false),
    new Field('body', new Utf8(), false),
    new Field('context', new Utf8(), true),
    new Field('payload', new Utf8(), false),
    ...spec.payloadFields.map((field) => filterField(field.name, field.type)),
    new Field('vector', new FixedSizeList(spec.dimensions, new Field('item', new Float32(), true)), false),
  ]);
}

function chunkRows(spec: IndexSpec, document: EmbeddedDocument): Row[] {
  const payload = JSON.stringify(document.payload);
  return (document.chunks ?? []).map((chunk) => {
    const row: Row = {
      chunk_key: `${chunk.ordinal}:${document.id}`,
      id: document.id,
      ordinal: chunk.ordinal,
      tenant: document.tenant,
      version: BigInt(document.version),
      content_hash: chunk.contentHash,
      start_offset: chunk.start,
      end_offset: chunk.end,
      body: chunk.text,
      context: chunk.context ?? null,
      payload,
      vector: Array.from(chunk.vector),
    };
    for (const field of spec.payloadFields)
      row[filterColumn(field.name)] = filterValue(field, document.payload[field.name]);
    return row;
  });
}

/** Replaces the chunks of the documents whose write won (call before writing their rows). */
export async function writeChunks(
  table: Lancedb.Table,
  spec: IndexSpec,
  documents: readonly EmbeddedDocument[],
): Promise<void> {
  if (documents.length === 0) return;
  const rows = documents.flatMap((document) => chunkRows(spec, document));
  if (rows.length > 0) {
    await table.mergeInsert('chunk_key').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows);
  }
  await table.delete(
    documents
      .map((document) => `(id = ${sqlString(document.id)} AND ordinal >= ${document.chunks?.length ?? 0})`)
      .join(' OR '),
  );
}

export async function deleteChunks(table: Lancedb.Table, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await table.delete(`id IN (${ids.map(sqlString).join(', ')})`);
}

/** The nearest chunks of the tenant (searchByChunks groups them into documents). */
export async function searchChunks(
  table: Lancedb.Table,
  request: DenseSearchRequest,
  tuning: { nprobes: number; refineFactor: number },
  /** Keeps the candidates that may answer (chunks of live documents at their stored version). */
  keep: (candidates: ChunkCandidate[]) => Promise<ChunkCandidate[]>,
): Promise<SearchHit[]> {
  const where = [
    `tenant = ${sqlString(request.tenant)}`,
    ...(request.filter ? [compileLancedbFilter(request.filter)] : []),
  ].join(' AND ');
  return searchByChunks(request, async (limit) => {
    const rows: Row[] = await table
      .vectorSearch(Array.from(request.vector))
      .column('vector')
      .distanceType('cosine')
      .where(where)
      .nprobes(tuning.nprobes)
      .refineFactor(tuning.refineFactor)
      .select([
        'id',
        'ordinal',
        'version',
        'start_offset',
        'end_offset',
        'body',
        'context',
        'payload',
        '_distance',
      ])
      .limit(limit)
      .toArray();
    return keep(
      rows.map((row) => ({
        id: String(row.id),
        version: Number(row.version),
        payload: JSON.parse(String(row.payload)) as Record<string, unknown>,
        chunk: {
          ordinal: Number(row.ordinal),
          start: Number(row.start_offset),
          end: Number(row.end_offset),
          text: String(row.body),
          ...(row.context ? { context: String(row.context) } : {}),
          score: 1 - Number(row._distance),
        },
      })),
    );
  });
}

export async function readChunks(
  table: Lancedb.Table,
  ids: readonly string[],
  tenant?: string,
): Promise<Map<string, StoredChunk[]>> {
  const found = new Map<string, StoredChunk[]>();
  if (ids.length === 0) return found;
  const tenantWhere = tenant !== undefined ? ` AND tenant = ${sqlString(tenant)}` : '';
  const rows: Row[] = await table
    .query()
    .where(`id IN (${ids.map(sqlString).join(', ')})${tenantWhere}`)
    .select(['id', 'ordinal', 'tenant', 'start_offset', 'end_offset', 'body', 'context', 'content_hash'])
    .toArray();
  for (const row of rows) {
    const id = String(row.id);
    const list = found.get(id) ?? [];
    list.push({
      ordinal: Number(row.ordinal),
      tenant: String(row.tenant),
      start: Number(row.start_offset),
      end: Number(row.end_offset),
      text: String(row.body),
      ...(row.context ? { context: String(row.context) } : {}),
      contentHash: String(row.content_hash),
    });
    found.set(id, list);
  }
  for (const list of found.values()) list.sort((a, b) => a.ordinal - b.ordinal);
  return found;
}
