import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression, versionExpression } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { fieldSql } from './field-sql.js';
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
  return [
    `${idExpression(definition, alias)} AS "__id"`,
    `${alias}.${quoteIdent(definition.tenantColumn.name)}::text AS "__tenant"`,
    `${versionExpression(definition, alias)}::text AS "__version"`,
    ...fieldSelectList(definition, alias),
  ].join(', ');
}

/**
 * The fields a document is built from, as SELECT items: the source table's columns, and each
 * relation field computed in the same statement (one snapshot: a document never mixes two
 * states of its parts), named by its key. `only` limits them to those keys (the template's).
 */
export function fieldSelectList(
  definition: CollectionDefinition,
  alias: string,
  only?: readonly string[],
): string[] {
  const wanted = (key: string) => only === undefined || only.includes(key);
  return [
    ...definition.readColumns.filter(wanted).map((column) => `${alias}.${quoteIdent(column)}`),
    ...definition.relationFields
      .filter((field) => wanted(field.key))
      .map((field) => `${fieldSql(field, alias)} AS ${quoteIdent(field.key)}`),
  ];
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
  const rows = new Map<string, SourceRow>();
  const match = matchIds(definition, ids);
  if (!match) return rows;
  const result = await db.query<Record<string, unknown>>(
    `SELECT ${sourceSelectList(definition)} FROM ${definition.tableSql} s WHERE ${match.where}`,
    match.params,
  );
  for (const raw of result.rows) {
    const row = toSourceRow(raw);
    rows.set(row.id, row);
  }
  return rows;
}

/** Which of the given rows the source holds now: the keys only, none of the read columns. */
export async function readSourcePresence(
  db: SqlExecutor,
  definition: CollectionDefinition,
  ids: readonly string[],
): Promise<Set<string>> {
  const match = matchIds(definition, ids);
  if (!match) return new Set();
  const result = await db.query<{ id: string }>(
    `SELECT ${idExpression(definition, 's')} AS id FROM ${definition.tableSql} s WHERE ${match.where}`,
    match.params,
  );
  return new Set(result.rows.map((row) => String(row.id)));
}

/** The WHERE clause selecting rows by id (composite keys by their columns); null when none can match. */
function matchIds(
  definition: CollectionDefinition,
  ids: readonly string[],
): { where: string; params: unknown[][] } | null {
  if (ids.length === 0) return null;
  const keys = keyColumnArrays(definition, ids);
  if (keys[0]!.length === 0) return null;
  const arrays = definition.keyColumns.map((column, index) => `$${index + 1}::${column.type}[]`);
  const where =
    arrays.length === 1
      ? `${keyTupleSql(definition, 's')} = ANY(${arrays[0]})`
      : `${keyTupleSql(definition, 's')} IN (SELECT * FROM unnest(${arrays.join(', ')}))`;
  return { where, params: keys };
}
