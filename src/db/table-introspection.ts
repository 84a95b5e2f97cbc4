import type { SqlExecutor } from './database.js';
import type { QualifiedName } from './sql-identifier.js';

export interface ColumnInfo {
  name: string;
  /** As printed by format_type(), e.g. `character varying(20)`, `numeric(10,2)`. */
  type: string;
  /** The base type name without modifiers, e.g. `varchar`, `numeric`, `int8`. */
  baseType: string;
  nullable: boolean;
  hasDefault: boolean;
  isGenerated: boolean;
}

export interface TableInfo {
  name: QualifiedName;
  columns: Map<string, ColumnInfo>;
  /** Columns of the primary key, in key order; empty when the table has none. */
  primaryKey: string[];
  /** Single-column unique constraints and indexes (any of them can be a foreign key target). */
  uniqueColumns: Set<string>;
  /** The columns of every unique constraint and index without a predicate, the primary key included. */
  uniqueKeys: string[][];
}

export async function describeTable(db: SqlExecutor, table: QualifiedName): Promise<TableInfo | undefined> {
  const found = await db.query<{ oid: number }>(
    `SELECT c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [table.schema, table.name],
  );
  const oid = found.rows[0]?.oid;
  if (oid === undefined) return undefined;

  const columns = await db.query<{
    name: string;
    type: string;
    base_type: string;
    not_null: boolean;
    has_default: boolean;
    generated: string;
  }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS base_type,
            a.attnotnull AS not_null, a.atthasdef AS has_default, a.attgenerated::text AS generated
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  const keys = await db.query<{ kind: string; columns: string[] }>(
    `SELECT CASE WHEN i.indisprimary THEN 'p' ELSE 'u' END AS kind,
            array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL
      GROUP BY i.indexrelid, i.indisprimary`,
    [oid],
  );

  const info: TableInfo = {
    name: table,
    columns: new Map(),
    primaryKey: [],
    uniqueColumns: new Set(),
    uniqueKeys: [],
  };
  for (const row of columns.rows) {
    info.columns.set(row.name, {
      name: row.name,
      type: row.type,
      baseType: row.base_type,
      nullable: !row.not_null,
      hasDefault: row.has_default,
      isGenerated: row.generated !== '',
    });
  }
  for (const key of keys.rows) {
    if (key.kind === 'p') info.primaryKey = key.columns;
    if (key.columns.length === 1) info.uniqueColumns.add(key.columns[0]!);
    info.uniqueKeys.push(key.columns);
  }
  return info;
}
