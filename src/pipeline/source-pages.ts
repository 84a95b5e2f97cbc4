import { type CollectionDefinition, versionExpression } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';

export interface SourceKey {
  id: string;
  tenant: string | null;
  version: number;
}

/**
 * Pages through a collection's source rows in primary-key order (keyset pagination: each page
 * is one index range scan, however far along), yielding keys, tenants and versions only.
 */
export async function* sourcePages(
  db: SqlExecutor,
  definition: CollectionDefinition,
  pageSize: number,
): AsyncGenerator<SourceKey[]> {
  const pk = quoteIdent(definition.primaryKey.name);
  const type = definition.primaryKey.type;
  let after: string | null = null;
  for (;;) {
    const page: { rows: Array<{ id: string; tenant: string | null; version: string }> } = await db.query(
      `SELECT s.${pk}::text AS id, s.${quoteIdent(definition.tenantColumn.name)}::text AS tenant,
              ${versionExpression(definition, 's')}::text AS version
         FROM ${definition.tableSql} s
        WHERE $1::text IS NULL OR s.${pk} > $1::${type}
        ORDER BY s.${pk}
        LIMIT $2`,
      [after, pageSize],
    );
    if (page.rows.length === 0) return;
    yield page.rows.map((row) => ({ id: row.id, tenant: row.tenant, version: Number(row.version) }));
    if (page.rows.length < pageSize) return;
    after = page.rows.at(-1)!.id;
  }
}

export async function sourceRowCount(db: SqlExecutor, definition: CollectionDefinition): Promise<number> {
  const result = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${definition.tableSql}`);
  return Number(result.rows[0]!.n);
}
