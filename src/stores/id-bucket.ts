import { hexDigest } from '../pipeline/hex-digest.js';

/** Number of id buckets. */
export const ID_BUCKETS = 65536;

/**
 * 0..65535: the first 16 bits of md5(id) where id is the canonical id (source primary key as
 * text, UTF-8). The same value in SQL: ('x' || left(md5(id_text), 4))::bit(16)::int
 *
 * Every store persists it with each record, so reconciliation can read a store by bucket range
 * even when the store cannot return records in source-key order (Qdrant, LanceDB).
 */
export function idBucket(id: string): number {
  return Number.parseInt(hexDigest('md5', id).slice(0, 4), 16);
}

/** The SQL expression for idBucket() of a text expression (see the contract above). */
export function idBucketSql(idText: string): string {
  return `('x' || left(md5(${idText}), 4))::bit(16)::int`;
}
