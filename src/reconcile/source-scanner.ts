import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression, versionExpression } from '../config/collection-definition.js';
import type { QueryResult, SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { coerceError, ErrorCode, isVectorsyncError, VectorsyncError } from '../errors.js';
import {
  buildDocumentIdentity,
  type DocumentIdentity,
  type EmbedderIdentity,
} from '../pipeline/document-builder.js';
import { keyAfterSql, keyOrderSql } from '../pipeline/source-key-sql.js';
import { fieldSelectList, type SourceRow } from '../pipeline/source-reader.js';
import { idBucketSql } from '../stores/id-bucket.js';

/** One source row as reconciliation sees it: what its index record must be, or why it cannot be built. */
export type SourceEntry =
  | { id: string; bucket: number; identity: Omit<DocumentIdentity, 'text'>; error?: undefined }
  | { id: string; bucket: number; identity?: undefined; error: VectorsyncError };

export interface SourceScanOptions {
  tenant?: string;
  pageSize: number;
  /** Only rows whose bucket group is set in this mask (bit g of byte g >> 3, least significant first). */
  groups?: { bits: number; mask: Buffer };
  signal?: AbortSignal;
}

/**
 * Streams a collection's source rows in primary-key order with keyset pagination, computing
 * for each row the identity (tenant, version, content hash) its index record must have, with
 * no embedding. Only the key, tenant, version and template columns are read. Postgres
 * computes the id bucket; the next page is requested before the current one is processed,
 * so Postgres and this process work at the same time. Memory: at most two pages.
 */
export async function* scanSource(
  db: SqlExecutor,
  definition: CollectionDefinition,
  embedder: EmbedderIdentity,
  options: SourceScanOptions,
): AsyncGenerator<SourceEntry[]> {
  const id = idExpression(definition, 's');
  const select = [
    `${id} AS "__id"`,
    `s.${quoteIdent(definition.tenantColumn.name)}::text AS "__tenant"`,
    `${versionExpression(definition, 's')}::text AS "__version"`,
    `${idBucketSql(id)} AS "__bucket"`,
    ...fieldSelectList(definition, 's', definition.template.fields),
  ].join(', ');
  const fixed: unknown[] = [options.pageSize];
  const filters: string[] = [];
  if (options.tenant !== undefined) {
    fixed.push(options.tenant);
    filters.push(`s.${quoteIdent(definition.tenantColumn.name)}::text = $${fixed.length}`);
  }
  if (options.groups) {
    fixed.push(options.groups.mask);
    filters.push(`get_bit($${fixed.length}::bytea, ${idBucketSql(id)} >> ${16 - options.groups.bits}) = 1`);
  }
  const fetchPage = (afterId: string | undefined) => {
    const where = [...filters];
    const values = [...fixed];
    if (afterId !== undefined) {
      where.push(keyAfterSql(definition, 's', afterId, values));
    }
    return db.query<Record<string, unknown>>(
      `SELECT ${select} FROM ${definition.tableSql} s
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${keyOrderSql(definition, 's')}
        LIMIT $1`,
      values,
    );
  };

  let pending: ReturnType<typeof fetchPage> | undefined = fetchPage(undefined);
  try {
    while (pending) {
      const page: QueryResult<Record<string, unknown>> = await pending;
      const last = page.rows.at(-1);
      pending = page.rows.length === options.pageSize && last ? fetchPage(String(last.__id)) : undefined;
      if (options.signal?.aborted) return;
      yield page.rows.map((raw) => toEntry(definition, embedder, raw));
    }
  } finally {
    // A consumer that stops early (abort) leaves a prefetched page in flight: let it finish so
    // its connection goes back to the pool cleanly.
    await pending?.catch(() => undefined);
  }
}

function toEntry(
  definition: CollectionDefinition,
  embedder: EmbedderIdentity,
  raw: Record<string, unknown>,
): SourceEntry {
  // No copies of the row: the template reads its own fields, the extra "__" keys are never read.
  const row: SourceRow = {
    id: String(raw.__id),
    tenant: raw.__tenant === null || raw.__tenant === undefined ? null : String(raw.__tenant),
    version: Number(raw.__version),
    values: raw,
  };
  const bucket = Number(raw.__bucket);
  try {
    // The rendered text is not kept: only its hash is compared, and pages stay small in memory.
    const { tenant, id, version, contentHash } = buildDocumentIdentity(definition, row, embedder);
    return { id, bucket, identity: { tenant, id, version, contentHash } };
  } catch (error) {
    const wrapped = isVectorsyncError(error)
      ? error
      : new VectorsyncError(ErrorCode.InvalidFieldValue, coerceError(error).message, { cause: error });
    return { id: row.id, bucket, error: wrapped };
  }
}
