import type { CollectionDefinition } from '../config/collection-definition.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { decodeCanonicalId } from './canonical-id.js';

/**
 * SQL over a collection's key columns for the statements that find rows by canonical id or
 * page through them in key order. Ids travel as text and are decoded here, once, into one
 * typed parameter array per key column.
 */

/** The key columns of the row aliased `alias`, as a row value in key order: `(s."a", s."b")`. */
export function keyTupleSql(definition: CollectionDefinition, alias: string): string {
  const columns = definition.keyColumns.map((column) => `${alias}.${quoteIdent(column.name)}`);
  return columns.length === 1 ? columns[0]! : `(${columns.join(', ')})`;
}

/** `ORDER BY` list in key order. */
export function keyOrderSql(definition: CollectionDefinition, alias: string): string {
  return definition.keyColumns.map((column) => `${alias}.${quoteIdent(column.name)}`).join(', ');
}

/**
 * Splits ids into one text array per key column (for `unnest($n::text[], …)`). Ids that are
 * not canonical ids of this collection name no row and are left out.
 */
export function keyColumnArrays(definition: CollectionDefinition, ids: readonly string[]): string[][] {
  const arity = definition.keyColumns.length;
  const arrays: string[][] = definition.keyColumns.map(() => []);
  for (const id of ids) {
    const parts = decodeCanonicalId(id, arity);
    if (!parts) continue;
    for (const [index, part] of parts.entries()) arrays[index]!.push(part);
  }
  return arrays;
}

/**
 * `alias.key > (params)`: the keyset condition after the row with canonical id `after`, its
 * parameters appended to `values`. Row-value comparison, so a composite key's btree serves it.
 */
export function keyAfterSql(
  definition: CollectionDefinition,
  alias: string,
  after: string,
  values: unknown[],
): string {
  const parts = decodeCanonicalId(after, definition.keyColumns.length);
  if (!parts) throw new Error(`keyset cursor "${after}" is not a canonical id of ${definition.name}`);
  const params = definition.keyColumns.map((column, index) => {
    values.push(parts[index]);
    return `$${values.length}::${column.type}`;
  });
  return `${keyTupleSql(definition, alias)} > ${params.length === 1 ? params[0] : `(${params.join(', ')})`}`;
}
