import {
  type CollectionDefinition,
  idExpression,
  versionExpression,
} from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { keyAfterSql, keyOrderSql } from './source-key-sql.js';

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
  let after: string | null = null;
  for (;;) {
    const values: unknown[] = [pageSize];
    const where = after === null ? '' : `WHERE ${keyAfterSql(definition, 's', after, values)}`;
    const page: { rows: Array<{ id: string; tenant: string | null; version: string }> } = await db.query(
      `SELECT ${idExpression(definition, 's')} AS id, s.${quoteIdent(definition.tenantColumn.name)}::text AS tenant,
              ${versionExpression(definition, 's')}::text AS version
         FROM ${definition.tableSql} s
        ${where}
        ORDER BY ${keyOrderSql(definition, 's')}
        LIMIT $1`,
      values,
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
