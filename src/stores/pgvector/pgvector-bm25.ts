import { pgvectorNames } from './pgvector-config.js';

/**
 * BM25 inside Postgres. Each index row carries its analysed terms (`bm25_terms`, ids from a
 * per-index dictionary), their frequencies (`bm25_tfs`) and its length (`bm25_len`).
 * Statement-level triggers on the index table derive, in the same transaction:
 *  - postings (term, tenant, tf, doc length, doc), indexed in impact order (tf descending,
 *    length ascending) so keyword search can read the best postings of a term first;
 *  - document frequencies and per-tenant collection statistics (document count, total
 *    length) as append-only deltas: writers only ever INSERT, so concurrent writers never wait
 *    on, or deadlock over, a shared counter row. Readers sum the deltas; `compactBm25Sql`
 *    folds them periodically.
 * Because triggers maintain them, the statistics stay exact whoever changes the index table:
 * the applier, a cascade from a source delete, or a repair.
 */
export function bm25Names(location: string) {
  const base = pgvectorNames(location);
  return {
    ...base,
    impactReference: `"vectorsync"."${location}_impact_ref"`,
    terms: `"vectorsync"."${location}_terms"`,
    postings: `"vectorsync"."${location}_postings"`,
    postingsIndex: `${location}_postings_impact`,
    df: `"vectorsync"."${location}_df"`,
    stats: `"vectorsync"."${location}_bm25"`,
    triggerFunction: `"vectorsync"."${location}_bm25_sync"`,
  };
}

/**
 * `impact` is a posting's BM25 document factor tf·(k1+1)/(tf + k1·(1 − b + b·dl/A₀)), with the
 * index's k1 and b and a reference average length A₀ fixed by the tenant's first write. Postings
 * are indexed by impact, so the first M of a term are its M best for any later average length A:
 * a factor computed with A is at most impact · max(1, A/A₀). The same expression recomputes the
 * impact of a posting being deleted, so deletes find it by its key.
 */
export function bm25Ddl(location: string, idType: string, params: { k1: number; b: number }): string[] {
  const n = bm25Names(location);
  const k1 = Number(params.k1);
  const b = Number(params.b);
  const impact = (tf: string, length: string, reference: string) =>
    `((${tf} * ${k1 + 1})::float8 / (${tf} + ${k1} * (1 - ${b} + ${b} * ${length}::float8 / ${reference})))::real`;
  const changed = (side: 'o' | 'n') =>
    `(SELECT ${side}.* FROM old_rows o JOIN new_rows n ON n.id = o.id
       WHERE (o.tenant, o.bm25_terms, o.bm25_tfs, o.bm25_len) IS DISTINCT FROM (n.tenant, n.bm25_terms, n.bm25_tfs, n.bm25_len))`;
  const addPostings = (rows: string) => `
      INSERT INTO ${n.impactReference} (tenant, avgdl)
      SELECT tenant, greatest(avg(bm25_len), 1) FROM ${rows} AS r GROUP BY tenant ORDER BY tenant ON CONFLICT (tenant) DO NOTHING;
      INSERT INTO ${n.postings} (term_id, tenant, impact, doc_id, tf, doc_len)
      SELECT t.term_id, r.tenant, ${impact('t.tf', 'r.bm25_len', 'ref.avgdl')}, r.id, t.tf, r.bm25_len
        FROM ${rows} r JOIN ${n.impactReference} ref ON ref.tenant = r.tenant
        CROSS JOIN LATERAL unnest(r.bm25_terms, r.bm25_tfs) AS t(term_id, tf);`;
  const removePostings = (rows: string) => `
      DELETE FROM ${n.postings} p
       USING ${rows} r JOIN ${n.impactReference} ref ON ref.tenant = r.tenant
             CROSS JOIN LATERAL unnest(r.bm25_terms, r.bm25_tfs) AS t(term_id, tf)
       WHERE p.term_id = t.term_id AND p.tenant = r.tenant AND p.impact = ${impact('t.tf', 'r.bm25_len', 'ref.avgdl')} AND p.doc_id = r.id;`;
  // One statement each for df and stats, with the sign per side, so a trigger call adds one delta row per key.
  const deltas = (sides: Array<[string, number]>) => {
    const rows = sides
      .map(([rows, sign]) => `SELECT tenant, bm25_terms, bm25_len, ${sign} AS sign FROM ${rows} AS r`)
      .join(' UNION ALL ');
    return `
      INSERT INTO ${n.df} (tenant, term_id, delta)
      SELECT c.tenant, t.term_id, sum(c.sign) FROM (${rows}) c CROSS JOIN LATERAL unnest(c.bm25_terms) AS t(term_id)
       GROUP BY c.tenant, t.term_id HAVING sum(c.sign) <> 0;
      INSERT INTO ${n.stats} (tenant, docs, total_len)
      SELECT c.tenant, sum(c.sign), sum(c.sign * c.bm25_len) FROM (${rows}) c GROUP BY c.tenant
      HAVING sum(c.sign) <> 0 OR sum(c.sign * c.bm25_len) <> 0;`;
  };
  return [
    `ALTER TABLE ${n.table}
       ADD COLUMN IF NOT EXISTS bm25_terms int[] NOT NULL DEFAULT '{}',
       ADD COLUMN IF NOT EXISTS bm25_tfs int[] NOT NULL DEFAULT '{}',
       ADD COLUMN IF NOT EXISTS bm25_len int NOT NULL DEFAULT 0`,
    `CREATE TABLE IF NOT EXISTS ${n.terms} (id serial PRIMARY KEY, term text NOT NULL UNIQUE)`,
    `CREATE TABLE IF NOT EXISTS ${n.impactReference} (tenant text PRIMARY KEY, avgdl float8 NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${n.postings} (
       term_id int NOT NULL, tenant text NOT NULL, impact real NOT NULL, doc_id ${idType} NOT NULL, tf int NOT NULL, doc_len int NOT NULL)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS "${n.postingsIndex}" ON ${n.postings} (term_id, tenant, impact DESC, doc_id) INCLUDE (tf, doc_len)`,
    `CREATE TABLE IF NOT EXISTS ${n.df} (tenant text NOT NULL, term_id int NOT NULL, delta int NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS "${location}_df_key" ON ${n.df} (tenant, term_id) INCLUDE (delta)`,
    `CREATE TABLE IF NOT EXISTS ${n.stats} (tenant text NOT NULL, docs bigint NOT NULL, total_len bigint NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS "${location}_bm25_tenant" ON ${n.stats} (tenant) INCLUDE (docs, total_len)`,
    `CREATE OR REPLACE FUNCTION ${n.triggerFunction}() RETURNS trigger LANGUAGE plpgsql AS $bm25$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         ${addPostings('new_rows')}
         ${deltas([['new_rows', 1]])}
       ELSIF TG_OP = 'DELETE' THEN
         ${removePostings('old_rows')}
         ${deltas([['old_rows', -1]])}
       ELSE
         -- Only rows whose terms, length or tenant changed touch postings and statistics.
         ${removePostings(changed('o'))}
         ${addPostings(changed('n'))}
         ${deltas([
           [changed('o'), -1],
           [changed('n'), 1],
         ])}
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

/** Folds the delta rows of keys that have more than one (rows inserted meanwhile stay as they are). */
export function compactBm25Sql(location: string): string[] {
  const n = bm25Names(location);
  return [
    `WITH keys AS (SELECT tenant, term_id FROM ${n.df} GROUP BY tenant, term_id HAVING count(*) > 1),
          gone AS (DELETE FROM ${n.df} d USING keys k WHERE d.tenant = k.tenant AND d.term_id = k.term_id RETURNING d.tenant, d.term_id, d.delta)
     INSERT INTO ${n.df} (tenant, term_id, delta)
     SELECT tenant, term_id, sum(delta) FROM gone GROUP BY tenant, term_id HAVING sum(delta) <> 0`,
    `WITH keys AS (SELECT tenant FROM ${n.stats} GROUP BY tenant HAVING count(*) > 1),
          gone AS (DELETE FROM ${n.stats} s USING keys k WHERE s.tenant = k.tenant RETURNING s.tenant, s.docs, s.total_len)
     INSERT INTO ${n.stats} (tenant, docs, total_len)
     SELECT tenant, sum(docs), sum(total_len) FROM gone GROUP BY tenant`,
  ];
}
