import type { SqlExecutor } from '../db/database.js';
import type { QualifiedName } from '../db/sql-identifier.js';

export interface UniqueKey {
  /** The index name (a primary key or unique constraint's index has the constraint's name). */
  name: string;
  primary: boolean;
  columns: string[];
}

export interface RowTrigger {
  name: string;
  /** BEFORE UPDATE, FOR EACH ROW, enabled for ordinary sessions, on every UPDATE (no column list). */
  beforeUpdateOnEveryRow: boolean;
  functionName: string;
  /** The function body (empty for C functions) and the trigger's arguments: where a column name would appear. */
  functionSource: string;
  args: string[];
}

export interface ColumnFacts {
  name: string;
  notNull: boolean;
  hasDefault: boolean;
  identity: boolean;
}

/** What `check` reads about one source table, straight from the catalog. */
export interface SourceTableCatalog {
  table: QualifiedName;
  owner: string;
  /** The current role is the owner or a member of the owning role (or a superuser). */
  ownedByCurrentRole: boolean;
  /** pg_class.relreplident: d(efault: primary key), n(othing), f(ull), i(ndex). */
  replicaIdentity: string;
  columns: Map<string, ColumnFacts>;
  /** Unique indexes without a predicate, columns in key order (expression indexes left out). */
  uniqueKeys: UniqueKey[];
  triggers: RowTrigger[];
  privileges: Record<'select' | 'insert' | 'update' | 'delete' | 'references' | 'trigger', boolean>;
  /** USAGE on the table's schema: without it no privilege on the table can be used. */
  schemaUsage: boolean;
}

const TRIGGER_ROW = 1;
const TRIGGER_BEFORE = 2;
const TRIGGER_UPDATE = 16;

export async function readSourceTableCatalog(
  db: SqlExecutor,
  table: QualifiedName,
): Promise<SourceTableCatalog | undefined> {
  const found = await db.query<{
    oid: number;
    owner: string;
    owned: boolean;
    replident: string;
    select: boolean;
    insert: boolean;
    update: boolean;
    delete: boolean;
    references: boolean;
    trigger: boolean;
    schema_usage: boolean;
  }>(
    `SELECT c.oid::int AS oid, pg_get_userbyid(c.relowner) AS owner, pg_has_role(c.relowner, 'USAGE') AS owned,
            c.relreplident::text AS replident,
            has_table_privilege(c.oid, 'SELECT') AS select, has_table_privilege(c.oid, 'INSERT') AS insert,
            has_table_privilege(c.oid, 'UPDATE') AS update, has_table_privilege(c.oid, 'DELETE') AS delete,
            has_table_privilege(c.oid, 'REFERENCES') AS references, has_table_privilege(c.oid, 'TRIGGER') AS trigger,
            has_schema_privilege(n.oid, 'USAGE') AS schema_usage
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [table.schema, table.name],
  );
  const row = found.rows[0];
  if (!row) return undefined;
  const columns = await db.query<{
    name: string;
    not_null: boolean;
    has_default: boolean;
    identity: boolean;
  }>(
    `SELECT attname AS name, attnotnull AS not_null, atthasdef AS has_default, attidentity <> '' AS identity
       FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [row.oid],
  );
  const keys = await db.query<{ name: string; primary: boolean; columns: string[] }>(
    `SELECT ic.relname AS name, i.indisprimary AS primary,
            array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       CROSS JOIN LATERAL unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
      GROUP BY ic.relname, i.indisprimary
      ORDER BY i.indisprimary DESC, ic.relname`,
    [row.oid],
  );
  const triggers = await db.query<{
    name: string;
    type: number;
    enabled: string;
    column_list: boolean;
    function_name: string;
    source: string | null;
    args: string[] | null;
  }>(
    `SELECT t.tgname AS name, t.tgtype::int AS type, t.tgenabled::text AS enabled,
            cardinality(t.tgattr::int2[]) > 0 AS column_list,
            p.oid::regprocedure::text AS function_name, p.prosrc AS source,
            CASE WHEN t.tgnargs = 0 THEN NULL
                 ELSE (string_to_array(encode(t.tgargs, 'escape'), '\\000'))[1:t.tgnargs] END AS args
       FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE t.tgrelid = $1 AND NOT t.tgisinternal
      ORDER BY t.tgname`,
    [row.oid],
  );
  return {
    table,
    owner: row.owner,
    ownedByCurrentRole: row.owned,
    replicaIdentity: row.replident,
    columns: new Map(
      columns.rows.map((column) => [
        column.name,
        {
          name: column.name,
          notNull: column.not_null,
          hasDefault: column.has_default,
          identity: column.identity,
        },
      ]),
    ),
    uniqueKeys: keys.rows,
    triggers: triggers.rows.map((trigger) => ({
      name: trigger.name,
      beforeUpdateOnEveryRow:
        (trigger.type & (TRIGGER_ROW | TRIGGER_BEFORE | TRIGGER_UPDATE)) ===
          (TRIGGER_ROW | TRIGGER_BEFORE | TRIGGER_UPDATE) &&
        // 'O' and 'A' fire in ordinary sessions; 'R' only under session_replication_role = replica.
        ['O', 'A'].includes(trigger.enabled) &&
        !trigger.column_list,
      functionName: trigger.function_name,
      functionSource: trigger.source ?? '',
      args: trigger.args ?? [],
    })),
    privileges: {
      select: row.select,
      insert: row.insert,
      update: row.update,
      delete: row.delete,
      references: row.references,
      trigger: row.trigger,
    },
    schemaUsage: row.schema_usage,
  };
}

/** For messages: the table as one would type it. */
export function tableLabel(table: QualifiedName): string {
  return `${table.schema}.${table.name}`;
}
