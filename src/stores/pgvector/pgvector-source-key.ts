import type { SqlExecutor } from '../../db/database.js';
import { qualified, quoteIdent } from '../../db/sql-identifier.js';
import { canonicalIdSql, decodeCanonicalId } from '../../pipeline/canonical-id.js';
import type { IndexSpec } from '../vector-store.js';

type Source = NonNullable<IndexSpec['source']>;

/**
 * How a pgvector index table holds its source key. In another database (no source): a text
 * id. In the source database with a one-column key: an id of the key's type that references
 * it. With a composite key: the key's columns (`key_1` … `key_n`, typed like the source's)
 * reference the source row, and `id` is generated from them — the canonical id, computed by
 * Postgres with the same expression as the capture triggers. ON UPDATE CASCADE moves the key
 * columns with a key change and the generated id and bucket follow, just as the one-column id
 * moves with its key.
 */
export interface PgvectorSourceKey {
  /** SQL type of the `id` column. */
  idType: string;
  /** `::type` to cast a text id to the `id` column (empty when it is text). */
  idCast: string;
  /** Column definitions (and the foreign key) that CREATE TABLE starts with. */
  ddl: string;
  /** The canonical id as SQL over the table's own columns, for generated columns (the bucket). */
  idSql: string;
  /** Index-table key columns written on insert (a composite key); empty: `id` is written. */
  keyColumns: string[];
  source?: Source;
}

export function pgvectorSourceKey(source: Source | undefined): PgvectorSourceKey {
  if (!source)
    return { idType: 'text', idCast: '', ddl: 'id text PRIMARY KEY', idSql: 'id::text', keyColumns: [] };
  const reference = (columns: string) =>
    `REFERENCES ${qualified(source.table)} (${columns}) ON DELETE CASCADE ON UPDATE CASCADE`;
  if (source.columns.length === 1) {
    const [column] = source.columns;
    return {
      idType: column!.type,
      idCast: `::${column!.type}`,
      ddl: `id ${column!.type} PRIMARY KEY ${reference(quoteIdent(column!.name))}`,
      idSql: 'id::text',
      keyColumns: [],
      source,
    };
  }
  const keyColumns = source.columns.map((_, index) => `key_${index + 1}`);
  const idSql = canonicalIdSql(keyColumns);
  return {
    idType: 'text',
    idCast: '',
    ddl: [
      ...source.columns.map((column, index) => `${keyColumns[index]} ${column.type} NOT NULL`),
      `id text GENERATED ALWAYS AS (${idSql}) STORED PRIMARY KEY`,
      `FOREIGN KEY (${keyColumns.join(', ')}) ${reference(source.columns.map((column) => quoteIdent(column.name)).join(', '))}`,
    ].join(',\n             '),
    idSql,
    keyColumns,
    source,
  };
}

/** One text array per key column of the ids (a composite key; ids must be canonical ids of it). */
export function keyArrays(key: PgvectorSourceKey, ids: readonly string[]): string[][] {
  const arrays: string[][] = key.keyColumns.map(() => []);
  for (const id of ids) {
    const parts = decodeCanonicalId(id, key.keyColumns.length);
    if (!parts) throw new Error(`"${id}" is not a canonical id of a ${key.keyColumns.length}-column key`);
    for (const [index, part] of parts.entries()) arrays[index]!.push(part);
  }
  return arrays;
}

/** The ids whose source row does not exist (now, in this transaction's snapshot). */
export async function missingSourceRows(
  tx: SqlExecutor,
  key: PgvectorSourceKey,
  ids: readonly string[],
): Promise<Set<string>> {
  const source = key.source;
  if (!source) return new Set();
  const columns = source.columns;
  const names = columns.map((_, index) => `k${index}`);
  const arrays = columns.length === 1 ? [ids] : keyArrays(key, ids);
  const result = await tx.query<{ id: string }>(
    `SELECT x.id FROM unnest($1::text[], ${columns.map((column, index) => `$${index + 2}::${column.type}[]`).join(', ')}) AS x(id, ${names.join(', ')})
      WHERE NOT EXISTS (SELECT 1 FROM ${qualified(source.table)} s
                         WHERE ${columns.map((column, index) => `s.${quoteIdent(column.name)} = x.${names[index]}`).join(' AND ')})`,
    [ids, ...arrays],
  );
  return new Set(result.rows.map((row) => row.id));
}
