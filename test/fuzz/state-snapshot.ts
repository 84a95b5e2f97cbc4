import type { SqlExecutor } from '../../src/db/database.js';
import { quoteIdent } from '../../src/db/sql-identifier.js';
import type { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';

/**
 * What a request may change: the source tables, the outbox and every index table, each as one
 * md5 computed in SQL (cheap on a few hundred rows), and per tenant the rows that tenant owns.
 *
 * Left out, because reads change them legitimately: api_keys (authentication records
 * last_used_at), workers and index_writers (heartbeats), embedding_cache (a query's embedding
 * may be cached before its filter is refused), migrations.
 */
const unwatched = new Set(['api_keys', 'workers', 'index_writers', 'embedding_cache', 'migrations']);

export type Snapshot = Record<string, string>;

export interface StateSnapshotter {
  take(): Promise<Snapshot>;
}

export async function stateSnapshotter(
  db: SqlExecutor,
  runtime: VectorsyncRuntime,
  tenants: readonly string[],
): Promise<StateSnapshotter> {
  const tables: Array<{ name: string; sql: string; tenantColumn?: string }> = [];
  for (const collection of runtime.collections.values()) {
    const definition = collection.definition;
    tables.push({
      name: definition.tableSql,
      sql: definition.tableSql,
      tenantColumn: definition.tenantColumn.name,
    });
  }
  const watched = await db.query<{ table_name: string; has_tenant: boolean }>(
    `SELECT t.table_name,
            EXISTS (SELECT 1 FROM information_schema.columns c
                     WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'tenant') AS has_tenant
       FROM information_schema.tables t
      WHERE t.table_schema = 'vectorsync' AND t.table_type = 'BASE TABLE'
      ORDER BY t.table_name`,
  );
  for (const row of watched.rows) {
    if (unwatched.has(row.table_name)) continue;
    tables.push({
      name: `vectorsync.${row.table_name}`,
      sql: `vectorsync.${quoteIdent(row.table_name)}`,
      ...(row.has_tenant ? { tenantColumn: 'tenant' } : {}),
    });
  }
  const digest = (from: string, where = '') =>
    `(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM ${from} t${where})`;
  const columns: string[] = [];
  const names: string[] = [];
  for (const table of tables) {
    columns.push(digest(table.sql));
    names.push(table.name);
    if (!table.tenantColumn) continue;
    tenants.forEach((tenant, index) => {
      columns.push(digest(table.sql, ` WHERE t.${quoteIdent(table.tenantColumn!)} = $${index + 1}`));
      names.push(`${table.name} of ${tenant}`);
    });
  }
  const sql = `SELECT ARRAY[${columns.join(', ')}] AS digests`;
  return {
    async take() {
      const result = await db.query<{ digests: string[] }>(sql, [...tenants]);
      return Object.fromEntries(names.map((name, index) => [name, result.rows[0]!.digests[index]!]));
    },
  };
}

/** The parts of the state that differ between two snapshots. */
export function changedParts(before: Snapshot, after: Snapshot): string[] {
  return Object.keys(before).filter((name) => before[name] !== after[name]);
}
