import { pgvectorNames } from './pgvector-config.js';

/**
 * BM25 inside Postgres. Each index row carries its analysed terms (`bm25_terms`, term ids
 * from a per-index dictionary), their frequencies (`bm25_tfs`) and its length (`bm25_len`).
 * Statement-level triggers on the index table derive, in the same transaction:
 *  - a postings table keyed (term, tenant, doc) with tf and doc length, read by keyword search;
 *  - per-tenant collection statistics (document count, total length), sharded by backend so
 *    concurrent writers rarely wait on the same counter row.
 * Because triggers maintain them, the statistics stay exact whoever changes the index table:
 * the applier, a cascade from a source delete, or a repair. Document frequency is counted from
 * the postings at query time, where the scoring query reads them anyway.
 */
export const STATS_SHARDS = 16;

export function bm25Names(location: string) {
  const base = pgvectorNames(location);
  return {
    ...base,
    terms: `"vectorsync"."${location}_terms"`,
    postings: `"vectorsync"."${location}_postings"`,
    stats: `"vectorsync"."${location}_bm25"`,
    triggerFunction: `"vectorsync"."${location}_bm25_sync"`,
  };
}

export function bm25Ddl(location: string, idType: string): string[] {
  const n = bm25Names(location);
  const delta = (rows: string, sign: string) => `
      INSERT INTO ${n.stats} AS s (tenant, shard, docs, total_len)
      SELECT tenant, pg_backend_pid() % ${STATS_SHARDS}, ${sign}count(*), ${sign}coalesce(sum(bm25_len), 0)
        FROM ${rows} AS r GROUP BY tenant ORDER BY tenant
      ON CONFLICT (tenant, shard) DO UPDATE SET docs = s.docs + EXCLUDED.docs, total_len = s.total_len + EXCLUDED.total_len;`;
  const addPostings = (rows: string) => `
      INSERT INTO ${n.postings} (term_id, tenant, doc_id, tf, doc_len)
      SELECT t.term_id, r.tenant, r.id, t.tf, r.bm25_len
        FROM ${rows} r CROSS JOIN LATERAL unnest(r.bm25_terms, r.bm25_tfs) AS t(term_id, tf);`;
  const removePostings = (rows: string) => `
      DELETE FROM ${n.postings} p
       USING ${rows} r CROSS JOIN LATERAL unnest(r.bm25_terms) AS t(term_id)
       WHERE p.term_id = t.term_id AND p.tenant = r.tenant AND p.doc_id = r.id;`;
  const changed = (side: 'o' | 'n') =>
    `(SELECT ${side}.* FROM old_rows o JOIN new_rows n ON n.id = o.id
       WHERE (o.tenant, o.bm25_terms, o.bm25_tfs, o.bm25_len) IS DISTINCT FROM (n.tenant, n.bm25_terms, n.bm25_tfs, n.bm25_len))`;
  return [
    `ALTER TABLE ${n.table}
       ADD COLUMN IF NOT EXISTS bm25_terms int[] NOT NULL DEFAULT '{}',
       ADD COLUMN IF NOT EXISTS bm25_tfs int[] NOT NULL DEFAULT '{}',
       ADD COLUMN IF NOT EXISTS bm25_len int NOT NULL DEFAULT 0`,
    `CREATE TABLE IF NOT EXISTS ${n.terms} (id serial PRIMARY KEY, term text NOT NULL UNIQUE)`,
    `CREATE TABLE IF NOT EXISTS ${n.postings} (
       term_id int NOT NULL, tenant text NOT NULL, doc_id ${idType} NOT NULL, tf int NOT NULL, doc_len int NOT NULL,
       PRIMARY KEY (term_id, tenant, doc_id) INCLUDE (tf, doc_len))`,
    `CREATE TABLE IF NOT EXISTS ${n.stats} (
       tenant text NOT NULL, shard int NOT NULL, docs bigint NOT NULL, total_len bigint NOT NULL,
       PRIMARY KEY (tenant, shard))`,
    `CREATE OR REPLACE FUNCTION ${n.triggerFunction}() RETURNS trigger LANGUAGE plpgsql AS $bm25$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         ${addPostings('new_rows')}
         ${delta('new_rows', '')}
       ELSIF TG_OP = 'DELETE' THEN
         ${removePostings('old_rows')}
         ${delta('old_rows', '-')}
       ELSE
         -- Only rows whose terms, length or tenant changed touch postings and statistics.
         ${removePostings(changed('o'))}
         ${delta(changed('o'), '-')}
         ${addPostings(changed('n'))}
         ${delta(changed('n'), '')}
       END IF;
       RETURN NULL;
     END
     $bm25$`,
    ...(['insert', 'update', 'delete'] as const).flatMap((op) => {
      const name = `"${location}_bm25_${op}"`;
      const transition =
        op === 'insert'
          ? 'NEW TABLE AS new_rows'
          : op === 'delete'
            ? 'OLD TABLE AS old_rows'
            : 'OLD TABLE AS old_rows NEW TABLE AS new_rows';
      return [
        `DROP TRIGGER IF EXISTS ${name} ON ${n.table}`,
        `CREATE TRIGGER ${name} AFTER ${op.toUpperCase()} ON ${n.table} REFERENCING ${transition} FOR EACH STATEMENT EXECUTE FUNCTION ${n.triggerFunction}()`,
      ];
    }),
  ];
}

/**
 * Exact Okapi BM25 over one tenant:
 *   idf(t)  = ln(1 + (N − df + 0.5) / (df + 0.5))
 *   score   = Σ_t qtf · idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avglen))
 * with N, avglen from the tenant's statistics and df counted from its postings.
 */
export function bm25ScoringSql(location: string, paramsStart: number): { cte: string; scoreColumn: string } {
  const n = bm25Names(location);
  const $ = (offset: number) => `$${paramsStart + offset}`;
  // $0 terms text[], $1 qtf int[], $2 tenant, $3 k1, $4 b
  return {
    cte: `
      q AS (
        SELECT d.id AS term_id, x.qtf FROM unnest(${$(0)}::text[], ${$(1)}::int[]) AS x(term, qtf) JOIN ${n.terms} d ON d.term = x.term
      ), st AS (
        SELECT coalesce(sum(docs), 0)::float8 AS n, coalesce(sum(total_len), 0)::float8 AS len FROM ${n.stats} WHERE tenant = ${$(2)}
      ), p AS (
        SELECT p.term_id, p.doc_id, p.tf, p.doc_len, count(*) OVER (PARTITION BY p.term_id) AS df
          FROM ${n.postings} p WHERE p.term_id IN (SELECT term_id FROM q) AND p.tenant = ${$(2)}
      ), scored AS (
        SELECT p.doc_id,
               sum(q.qtf * ln(1 + (st.n - p.df + 0.5) / (p.df + 0.5))
                   * (p.tf * (${$(3)}::float8 + 1))
                   / (p.tf + ${$(3)}::float8 * (1 - ${$(4)}::float8 + ${$(4)}::float8 * p.doc_len / nullif(st.len / nullif(st.n, 0), 0)))) AS score
          FROM p JOIN q USING (term_id) CROSS JOIN st
         GROUP BY p.doc_id
      )`,
    scoreColumn: 'scored.score',
  };
}
