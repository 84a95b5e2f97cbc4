import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression, versionExpression } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { keyColumnArrays, keyTupleSql } from './source-key-sql.js';

/** A source row as the pipeline sees it: identity, tenant and version, plus the read columns. */
export interface SourceRow {
  id: string;
  /** Null when the row's tenant column is NULL (the row cannot be indexed). */
  tenant: string | null;
  version: number;
  values: Record<string, unknown>;
}

/** The SELECT list shared by every source read (by id, by keyset page, in backfills). */
export function sourceSelectList(definition: CollectionDefinition, alias = 's'): string {
  const columns = definition.readColumns.map((column) => `${alias}.${quoteIdent(column)}`);
  return [
    `${idExpression(definition, alias)} AS "__id"`,
    `${alias}.${quoteIdent(definition.tenantColumn.name)}::text AS "__tenant"`,
    `${versionExpression(definition, alias)}::text AS "__version"`,
    ...columns,
  ].join(', ');
}

export function toSourceRow(row: Record<string, unknown>): SourceRow {
  const { __id, __tenant, __version, ...values } = row;
  return {
    id: String(__id),
    tenant: __tenant === null || __tenant === undefined ? null : String(__tenant),
    version: Number(__version),
    values,
  };
}

/** Reads the current state of the given rows in one query; absent ids are absent from the map. */
export async function readSourceRows(
  db: SqlExecutor,
  definition: CollectionDefinition,
  ids: readonly string[],
): Promise<Map<string, SourceRow>> {
  if (ids.length === 0) return new Map();
  const keys = keyColumnArrays(definition, ids);
  if (keys[0]!.length === 0) return new Map();
  const arrays = definition.keyColumns.map((column, index) => `$${index + 1}::${column.type}[]`);
  const match =
    arrays.length === 1
      ? `${keyTupleSql(definition, 's')} = ANY(${arrays[0]})`
      : `${keyTupleSql(definition, 's')} IN (SELECT * FROM unnest(${arrays.join(', ')}))`;
  const result = await db.query<Record<string, unknown>>(
    `SELECT ${sourceSelectList(definition)} FROM ${definition.tableSql} s WHERE ${match}`,
    keys,
  );
  const rows = new Map<string, SourceRow>();
  for (const raw of result.rows) {
    const row = toSourceRow(raw);
    rows.set(row.id, row);
  }
  return rows;
}
