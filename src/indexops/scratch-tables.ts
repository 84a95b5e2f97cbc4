import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import type { AnnIndexTable } from '../stores/index-ops-support.js';

/**
 * Scratch tables hold rehearsal samples and verification copies. Their names carry the
 * operation id, so whatever a crashed operation left behind is found and dropped later.
 */
const prefix = 'ixop_';

export function scratchTable(live: AnnIndexTable, operationId: number, purpose: string): AnnIndexTable {
  const name = `${prefix}${operationId}_${purpose}`.slice(0, 63);
  return { ...live, name, qualified: `${quoteIdent(live.schema)}.${quoteIdent(name)}` };
}

/**
 * A copy of the live rows (the same columns, so rows are as wide as the real table's) with
 * the tenant index searches use. `parallelWorkers` pins the parallel workers a build on it
 * gets, which Postgres would otherwise choose from the (small) table size.
 */
export async function createScratchCopy(
  db: SqlExecutor,
  input: {
    live: AnnIndexTable;
    scratch: AnnIndexTable;
    /** Rows to take (random when fewer than the source has); undefined: all. */
    rows?: number;
    /** The source's row count, to sample without sorting the whole table. */
    sourceRows: number;
    tenant: string | null;
    parallelWorkers: number;
    from?: AnnIndexTable;
  },
): Promise<number> {
  const source = input.from ?? input.live;
  await db.query(
    `CREATE TABLE ${input.scratch.qualified} (LIKE ${input.live.qualified}) WITH (parallel_workers = ${Number(input.parallelWorkers)}, fillfactor = 80)`,
  );
  const tenantFilter = input.tenant === null ? '' : `WHERE ${quoteIdent(input.live.tenantColumn)} = $1`;
  const params: unknown[] = input.tenant === null ? [] : [input.tenant];
  let select = `SELECT * FROM ${source.qualified} ${tenantFilter}`;
  if (input.rows !== undefined && input.rows < input.sourceRows) {
    // Bernoulli sampling reads every page once without sorting the table; a margin keeps the
    // sample from falling short, and ORDER BY random() picks the exact count from it.
    const percent = Math.min(100, (100 * input.rows * 1.3) / Math.max(1, input.sourceRows) + 0.01);
    select = `SELECT * FROM (SELECT * FROM ${source.qualified} TABLESAMPLE BERNOULLI (${percent}) ${tenantFilter}) s
               ORDER BY random() LIMIT ${Number(input.rows)}`;
  }
  const inserted = await db.query(`INSERT INTO ${input.scratch.qualified} ${select}`, params);
  await db.query(
    `CREATE INDEX ON ${input.scratch.qualified} (${quoteIdent(input.live.tenantColumn)}); ANALYZE ${input.scratch.qualified}`,
  );
  return inserted.rowCount;
}

export async function dropScratchTables(db: SqlExecutor, operationId: number): Promise<string[]> {
  const tables = await scratchTablesOf(db, `${prefix}${operationId}\\_%`);
  for (const name of tables) await db.query(`DROP TABLE IF EXISTS vectorsync.${quoteIdent(name)}`);
  return tables;
}

/** Every scratch table and the operation it belongs to. */
export async function listScratchTables(
  db: SqlExecutor,
): Promise<Array<{ name: string; operationId: number }>> {
  const tables = await scratchTablesOf(db, `${prefix}%`);
  return tables.map((name) => ({ name, operationId: Number(/^ixop_(\d+)_/.exec(name)?.[1] ?? -1) }));
}

async function scratchTablesOf(db: SqlExecutor, pattern: string): Promise<string[]> {
  const result = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'vectorsync' AND c.relkind = 'r' AND c.relname LIKE $1 ORDER BY 1`,
    [pattern],
  );
  return result.rows.map((row) => row.name);
}
