import { pgvectorNames } from './pgvector-config.js';

/**
 * BM25 inside Postgres. Each index row carries its analysed terms (`bm25_terms`, ids from a
 * per-index dictionary), their frequencies (`bm25_tfs`) and its length (`bm25_len`).
 * Statement-level triggers on the index table derive, in the same transaction:
 *  - a document ordinal per indexed version of a row (`_bm25_docs`), so postings are compact;
 *  - postings (term, tenant, ordinal) with tf and length, covered by their primary key so a
 *    term's postings are one index-only range scan;
 *  - per-tenant collection statistics (document count, total length) as append-only deltas:
 *    writers only ever INSERT, so concurrent writers never wait on, or deadlock over, a shared
 *    counter row. Readers sum the deltas; `compactBm25Sql` folds them periodically.
 * Because triggers maintain them, postings and statistics stay exact whoever changes the index
 * table: the applier, a cascade from a source delete, or a repair. Document frequencies are not
 * stored: a query reads every posting of its terms anyway, so it counts them.
 */
export function bm25Names(location: string) {
  const base = pgvectorNames(location);
  return {
    ...base,
    terms: `"vectorsync"."${location}_terms"`,
    documents: `"vectorsync"."${location}_bm25_docs"`,
    ordinals: `"vectorsync"."${location}_bm25_ord"`,
    postings: `"vectorsync"."${location}_postings"`,
    stats: `"vectorsync"."${location}_bm25"`,
    triggerFunction: `"vectorsync"."${location}_bm25_sync"`,
    truncateFunction: `"vectorsync"."${location}_bm25_truncate"`,
  };
}

export function bm25Ddl(location: string, idType: string): string[] {
  const n = bm25Names(location);
  // Transition tables have no statistics: the planner takes them for one row each, so any join
  // between them (or between one and its own RETURNING rows) becomes a nested loop, quadratic in
  // the batch. None of these statements joins two of them: the rows whose terms, length or tenant
  // changed are found by a window over both sides (an unchanged row appears twice), and a new
  // document's ordinal is drawn before the insert instead of joined back from RETURNING.
  const changed = (side: 'o' | 'n') =>
    `(SELECT d.* FROM (
        SELECT b.*, count(*) OVER (PARTITION BY b.id, b.tenant, b.bm25_terms, b.bm25_tfs, b.bm25_len) AS copies
          FROM (SELECT 'o' AS side, id, tenant, bm25_terms, bm25_tfs, bm25_len FROM old_rows
                UNION ALL
                SELECT 'n', id, tenant, bm25_terms, bm25_tfs, bm25_len FROM new_rows) b) d
       WHERE d.copies = 1 AND d.side = '${side}')`;
  const add = (rows: string) => `
      WITH r AS MATERIALIZED (
        SELECT nextval('${n.ordinals.replace(/'/g, "''")}') AS ord, id, tenant, bm25_len, bm25_terms, bm25_tfs FROM ${rows} AS x),
      added AS (
        INSERT INTO ${n.documents} (ord, id, tenant, len) SELECT ord, id, tenant, bm25_len FROM r)
      INSERT INTO ${n.postings} (term_id, tenant, ord, tf, len)
      SELECT t.term_id, r.tenant, r.ord, t.tf, r.bm25_len
        FROM r CROSS JOIN LATERAL unnest(r.bm25_terms, r.bm25_tfs) AS t(term_id, tf);`;
  // The postings keys are built first so each is one probe of the full primary key.
  const remove = (rows: string) => `
      WITH removed AS (
        DELETE FROM ${n.documents} d USING ${rows} AS r WHERE d.id = r.id RETURNING d.ord, d.tenant, r.bm25_terms),
      keys AS MATERIALIZED (
        SELECT t.term_id, x.tenant, x.ord FROM removed x CROSS JOIN LATERAL unnest(x.bm25_terms) AS t(term_id))
      DELETE FROM ${n.postings} p
       USING keys k
       WHERE p.term_id = k.term_id AND p.tenant = k.tenant AND p.ord = k.ord;`;
  const stats = (sides: Array<[string, number]>) => {
    const rows = sides
      .map(([rows, sign]) => `SELECT tenant, bm25_len, ${sign} AS sign FROM ${rows} AS r`)
      .join(' UNION ALL ');
    return `
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
    `CREATE SEQUENCE IF NOT EXISTS ${n.ordinals}`,
    `CREATE TABLE IF NOT EXISTS ${n.documents} (
       ord bigint PRIMARY KEY DEFAULT nextval('${n.ordinals.replace(/'/g, "''")}'),
       id ${idType} NOT NULL UNIQUE, tenant text NOT NULL, len int NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${n.postings} (
       term_id int NOT NULL, tenant text NOT NULL, ord bigint NOT NULL, tf int NOT NULL, len int NOT NULL,
       PRIMARY KEY (term_id, tenant, ord) INCLUDE (tf, len))`,
    `CREATE TABLE IF NOT EXISTS ${n.stats} (tenant text NOT NULL, docs bigint NOT NULL, total_len bigint NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS "${location}_bm25_tenant" ON ${n.stats} (tenant) INCLUDE (docs, total_len)`,
    // SECURITY DEFINER: these tables are vectorsync's. A source DELETE cascades into the index
    // table through its foreign key, and the trigger then fires as the application's role, which
    // has no privileges on them; every name in the bodies is schema-qualified.
    `CREATE OR REPLACE FUNCTION ${n.triggerFunction}() RETURNS trigger LANGUAGE plpgsql
       SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $bm25$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         ${add('new_rows')}
         ${stats([['new_rows', 1]])}
       ELSIF TG_OP = 'DELETE' THEN
         ${remove('old_rows')}
         ${stats([['old_rows', -1]])}
       ELSE
         -- Only rows whose terms, length or tenant changed touch postings and statistics.
         ${remove(changed('o'))}
         ${add(changed('n'))}
         ${stats([
           [changed('o'), -1],
           [changed('n'), 1],
         ])}
       END IF;
       RETURN NULL;
     END
     $bm25$`,
    // A TRUNCATE of the index table (a source `TRUNCATE … CASCADE` reaches it through the
    // foreign key) fires no DELETE trigger: empty the derived tables with it, in its transaction.
    `CREATE OR REPLACE FUNCTION ${n.truncateFunction}() RETURNS trigger LANGUAGE plpgsql
       SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $bm25$
     BEGIN
       TRUNCATE ${n.documents}, ${n.postings}, ${n.stats};
       RETURN NULL;
     END
     $bm25$`,
    `DROP TRIGGER IF EXISTS "${location}_bm25_truncate" ON ${n.table}`,
    `CREATE TRIGGER "${location}_bm25_truncate" AFTER TRUNCATE ON ${n.table} FOR EACH STATEMENT EXECUTE FUNCTION ${n.truncateFunction}()`,
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

/** Folds the statistics deltas of tenants that have more than one (rows inserted meanwhile stay). */
export function compactBm25Sql(location: string): string[] {
  const n = bm25Names(location);
  return [
    `WITH keys AS (SELECT tenant FROM ${n.stats} GROUP BY tenant HAVING count(*) > 1),
          gone AS (DELETE FROM ${n.stats} s USING keys k WHERE s.tenant = k.tenant RETURNING s.tenant, s.docs, s.total_len)
     INSERT INTO ${n.stats} (tenant, docs, total_len)
     SELECT tenant, sum(docs), sum(total_len) FROM gone GROUP BY tenant`,
  ];
}
