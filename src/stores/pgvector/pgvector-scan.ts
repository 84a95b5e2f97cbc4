import type { SqlExecutor } from '../../db/database.js';
import { quoteIdent } from '../../db/sql-identifier.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { ID_BUCKETS, idBucketSql } from '../id-bucket.js';
import type { BucketChecksum, IndexSpec, ScanPage, ScanRequest } from '../vector-store.js';
import { pgvectorNames } from './pgvector-config.js';

/**
 * Reading a pgvector index by id bucket, for reconciliation. The bucket is a stored generated
 * column (computed by Postgres from the id on every write, so no writer can get it wrong) with
 * a btree on (bucket, id): a bucket range is an index range scan, and (bucket, id) is the
 * keyset for pages. Tombstones live in their own table and are never read here.
 */
export function bucketColumnDdl(location: string, idSql = 'id::text'): string[] {
  const names = pgvectorNames(location);
  // idSql: the canonical id over the table's own columns. A composite key's id is itself a
  // generated column, which another generated column cannot read: the bucket reads the key.
  return [
    `ALTER TABLE ${names.table} ADD COLUMN IF NOT EXISTS bucket int GENERATED ALWAYS AS (${idBucketSql(idSql)}) STORED`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${location}_bucket`)} ON ${names.table} (bucket, id)`,
  ];
}

interface ScanCursor {
  bucket: number;
  id: string;
}

function encodeCursor(cursor: ScanCursor): string {
  return Buffer.from(JSON.stringify([cursor.bucket, cursor.id])).toString('base64url');
}

function decodeCursor(token: string): ScanCursor {
  try {
    const [bucket, id] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (Number.isInteger(bucket) && typeof id === 'string') return { bucket: bucket as number, id };
  } catch {
    // reported below
  }
  throw new VectorsyncError(
    ErrorCode.InvalidRequest,
    `scan cursor "${token}" is not a cursor this store issued`,
    {
      details: { cursor: token },
    },
  );
}

export function assertBucketRange(request: { bucketFrom: number; bucketTo: number; limit: number }): void {
  const valid = (value: number) => Number.isInteger(value) && value >= 0 && value < ID_BUCKETS;
  if (!valid(request.bucketFrom) || !valid(request.bucketTo) || request.bucketFrom > request.bucketTo) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `scan bucket range ${request.bucketFrom}..${request.bucketTo} is not within 0..${ID_BUCKETS - 1} in order`,
      { details: { bucketFrom: request.bucketFrom, bucketTo: request.bucketTo } },
    );
  }
  if (!Number.isInteger(request.limit) || request.limit < 1) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `scan limit ${request.limit} must be a positive integer`,
      {
        details: { limit: request.limit },
      },
    );
  }
}

export async function pgvectorScan(
  db: SqlExecutor,
  spec: IndexSpec,
  idType: string,
  request: ScanRequest,
): Promise<ScanPage> {
  assertBucketRange(request);
  const names = pgvectorNames(spec.location);
  const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
  const params: unknown[] = [request.bucketFrom, request.bucketTo, request.tenant ?? null, request.limit];
  let keyset = '';
  if (after) {
    params.push(after.bucket, after.id);
    keyset = ` AND (bucket, id) > ($5::int, $6::${idType})`;
  }
  const result = await db.query<{
    id: string;
    tenant: string;
    version: string;
    content_hash: string;
    bucket: number;
  }>(
    `SELECT id::text AS id, tenant, version::text AS version, content_hash, bucket FROM ${names.table}
      WHERE bucket BETWEEN $1 AND $2 AND ($3::text IS NULL OR tenant = $3)${keyset}
      ORDER BY bucket, id
      LIMIT $4`,
    params,
  );
  const records = result.rows.map((row) => ({
    tenant: row.tenant,
    id: row.id,
    version: Number(row.version),
    contentHash: row.content_hash,
  }));
  const last = result.rows.at(-1);
  return {
    records,
    cursor:
      last && result.rows.length === request.limit
        ? encodeCursor({ bucket: last.bucket, id: last.id })
        : null,
  };
}

/** Counts and XOR checksums per bucket group, in one pass over the table inside Postgres. */
export async function pgvectorBucketChecksums(
  db: SqlExecutor,
  spec: IndexSpec,
  request: { tenant?: string; bucketBits: number },
): Promise<BucketChecksum[]> {
  if (!Number.isInteger(request.bucketBits) || request.bucketBits < 0 || request.bucketBits > 16) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `bucketBits ${request.bucketBits} must be an integer from 0 to 16`,
      {
        details: { bucketBits: request.bucketBits },
      },
    );
  }
  const names = pgvectorNames(spec.location);
  const result = await db.query<{ bucket: number; count: number; checksum: string }>(
    `SELECT bucket >> $2 AS bucket, count(*)::int AS count,
            lpad(to_hex(bit_xor(('x' || left(md5(id::text || ':' || version::text || ':' || content_hash), 16))::bit(64)::bigint)), 16, '0') AS checksum
       FROM ${names.table}
      WHERE ($1::text IS NULL OR tenant = $1)
      GROUP BY 1
      ORDER BY 1`,
    [request.tenant ?? null, 16 - request.bucketBits],
  );
  return result.rows.map((row) => ({ bucket: Number(row.bucket), count: row.count, checksum: row.checksum }));
}
