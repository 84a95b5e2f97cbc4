import type { SqlExecutor } from '../../src/db/database.js';
import type { StoredRecord } from './chaos-check.js';

/**
 * Reads an index straight from where it lives, with the suite's own queries: nothing of the
 * store classes, reconciliation or search is involved, so a bug in them cannot hide drift.
 */

/** A pgvector index table, every record (pgvector keeps one row per id by its primary key). */
export async function readPgvectorRecords(db: SqlExecutor, location: string): Promise<StoredRecord[]> {
  const table = `vectorsync."${location}"`;
  const terms = new Map(
    (
      await db.query<{ id: number; term: string }>(`SELECT id, term FROM vectorsync."${location}_terms"`)
    ).rows.map((row) => [row.id, row.term]),
  );
  const result = await db.query<{
    id: string;
    tenant: string;
    version: string;
    content_hash: string;
    payload: Record<string, unknown>;
    bm25_terms: number[];
    bm25_tfs: number[];
    bm25_len: number;
    embedding: string;
  }>(
    `SELECT id::text AS id, tenant, version::text AS version, content_hash, payload, bm25_terms, bm25_tfs, bm25_len,
            embedding::text AS embedding
       FROM ${table}`,
  );
  return result.rows.map((row) => ({
    id: row.id,
    tenant: row.tenant,
    version: Number(row.version),
    contentHash: row.content_hash,
    payload: row.payload,
    terms: Object.fromEntries(
      row.bm25_terms.map((termId, i) => [terms.get(termId) ?? `?${termId}`, row.bm25_tfs[i]!]),
    ),
    termCount: row.bm25_len,
    vector: JSON.parse(row.embedding) as number[],
  }));
}

/**
 * pgvector's keyword-search side tables agree with its records: one BM25 document per record
 * (same tenant and length), its postings exactly its terms, and per-tenant statistics (sums of
 * deltas) equal to the records' count and total length. Returns the disagreements.
 */
export async function pgvectorKeywordIndexProblems(db: SqlExecutor, location: string): Promise<string[]> {
  const t = `vectorsync."${location}"`;
  const result = await db.query<{ problem: string }>(
    `SELECT 'bm25 document of ' || coalesce(i.id::text, d.id::text) AS problem
       FROM ${t} i FULL JOIN vectorsync."${location}_bm25_docs" d ON d.id = i.id
      WHERE i.id IS NULL OR d.id IS NULL OR d.tenant <> i.tenant OR d.len <> i.bm25_len
     UNION ALL
     SELECT 'postings of ' || coalesce(e.id::text, p.id::text)
       FROM (SELECT i.id, d.ord, u.term_id, u.tf, i.tenant, i.bm25_len
               FROM ${t} i JOIN vectorsync."${location}_bm25_docs" d ON d.id = i.id
               CROSS JOIN LATERAL unnest(i.bm25_terms, i.bm25_tfs) AS u(term_id, tf)) e
       FULL JOIN (SELECT p.*, d.id FROM vectorsync."${location}_postings" p
                    LEFT JOIN vectorsync."${location}_bm25_docs" d ON d.ord = p.ord) p
         ON p.term_id = e.term_id AND p.ord = e.ord
      WHERE e.id IS NULL OR p.term_id IS NULL OR p.tf <> e.tf OR p.tenant <> e.tenant OR p.len <> e.bm25_len
     UNION ALL
     SELECT 'statistics of tenant ' || coalesce(r.tenant, s.tenant)
       FROM (SELECT tenant, count(*) AS docs, sum(bm25_len) AS total_len FROM ${t} GROUP BY tenant) r
       FULL JOIN (SELECT tenant, sum(docs) AS docs, sum(total_len) AS total_len FROM vectorsync."${location}_bm25"
                   GROUP BY tenant HAVING sum(docs) <> 0) s ON s.tenant = r.tenant
      WHERE r.tenant IS NULL OR s.tenant IS NULL OR r.docs <> s.docs OR r.total_len <> s.total_len
     LIMIT 50`,
  );
  return result.rows.map((row) => row.problem);
}

/** A LanceDB table through the LanceDB client itself: every live row (several per id is drift). */
export async function readLancedbRecords(dataDir: string, location: string): Promise<StoredRecord[]> {
  const lancedb = await import('@lancedb/lancedb');
  const connection = await lancedb.connect(dataDir);
  try {
    const table = await connection.openTable(location);
    try {
      const rows = await table
        .query()
        .where('deleted = false')
        .select(['id', 'tenant', 'version', 'content_hash', 'payload', 'terms', 'vector'])
        .toArray();
      return rows.map((row: Record<string, unknown>) => {
        const terms: Record<string, number> = {};
        const text = String(row.terms);
        for (const term of text === '' ? [] : text.split(' ')) terms[term] = (terms[term] ?? 0) + 1;
        return {
          id: String(row.id),
          tenant: String(row.tenant),
          version: Number(row.version),
          contentHash: String(row.content_hash),
          payload: JSON.parse(String(row.payload)) as Record<string, unknown>,
          terms,
          termCount: Object.values(terms).reduce((sum, tf) => sum + tf, 0),
          vector: Array.from(row.vector as ArrayLike<number>),
        };
      });
    } finally {
      table.close();
    }
  } finally {
    connection.close();
  }
}

/** LanceDB has no primary key: rows of one id beyond the first (live or tombstone) are duplicates. */
export async function lancedbDuplicateIds(dataDir: string, location: string): Promise<string[]> {
  const lancedb = await import('@lancedb/lancedb');
  const connection = await lancedb.connect(dataDir);
  try {
    const table = await connection.openTable(location);
    try {
      const rows = await table.query().select(['id']).toArray();
      const seen = new Map<string, number>();
      for (const row of rows as Array<{ id: unknown }>)
        seen.set(String(row.id), (seen.get(String(row.id)) ?? 0) + 1);
      return [...seen].filter(([, count]) => count > 1).map(([id, count]) => `${id} ×${count}`);
    } finally {
      table.close();
    }
  } finally {
    connection.close();
  }
}
