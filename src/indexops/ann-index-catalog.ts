import type { SqlExecutor } from '../db/database.js';
import type { AnnIndexTable, AnnMethod } from '../stores/index-ops-support.js';
import type { AnnParams } from './ann-params.js';

/** One HNSW or IVFFlat index on an index table, as the Postgres catalog describes it. */
export interface AnnIndexInfo {
  name: string;
  oid: string;
  method: AnnMethod;
  params: AnnParams;
  /** null: covers every row; a string: a partial index WHERE tenant = that; see `predicate` otherwise. */
  tenant: string | null;
  /** The raw predicate of a partial index that is not a tenant index (made by hand). */
  predicate: string | null;
  /** Usable by queries. */
  valid: boolean;
  /** A CREATE INDEX is working on it right now (an invalid index that is not a leftover). */
  building: boolean;
  sizeBytes: number;
}

interface Row {
  oid: string;
  name: string;
  method: AnnMethod;
  options: string[] | null;
  predicate: string | null;
  valid: boolean;
  building: boolean;
  bytes: string;
}

export async function listAnnIndexes(db: SqlExecutor, table: AnnIndexTable): Promise<AnnIndexInfo[]> {
  const result = await db.query<Row>(
    `SELECT c.oid::text AS oid, c.relname AS name, a.amname AS method, c.reloptions AS options,
            pg_get_expr(i.indpred, i.indrelid) AS predicate, i.indisvalid AS valid,
            EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid) AS building,
            pg_relation_size(c.oid)::text AS bytes
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indrelid = to_regclass($1) AND a.amname IN ('hnsw', 'ivfflat')
      ORDER BY c.oid`,
    [table.qualified],
  );
  return result.rows.map((row) => {
    const tenant = parseTenantPredicate(row.predicate, table.tenantColumn);
    return {
      name: row.name,
      oid: row.oid,
      method: row.method,
      params: paramsFromOptions(row.method, row.options ?? []),
      tenant: tenant ?? null,
      predicate: row.predicate !== null && tenant === undefined ? row.predicate : null,
      valid: row.valid,
      building: row.building,
      sizeBytes: Number(row.bytes),
    };
  });
}

/** The index(es) serving a scope: the whole collection (no predicate) or one tenant. */
export function indexesInScope(indexes: readonly AnnIndexInfo[], tenant: string | null): AnnIndexInfo[] {
  return indexes.filter((index) =>
    tenant === null ? index.tenant === null && index.predicate === null : index.tenant === tenant,
  );
}

/** Absent reloptions mean pgvector's defaults. */
function paramsFromOptions(method: AnnMethod, options: string[]): AnnParams {
  const values = new Map(
    options.map((option) => {
      const [key, value] = option.split('=');
      return [key!, Number(value)] as const;
    }),
  );
  return method === 'hnsw'
    ? { method, m: values.get('m') ?? 16, efConstruction: values.get('ef_construction') ?? 64 }
    : { method, lists: values.get('lists') ?? 100 };
}

/** `(tenant = 'acme'::text)` → `acme`; undefined for no or another predicate. */
function parseTenantPredicate(predicate: string | null, column: string): string | undefined {
  if (predicate === null) return undefined;
  const columnPattern = column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^\\("?${columnPattern}"? = '((?:[^']|'')*)'::text\\)$`).exec(predicate);
  return match ? match[1]!.replace(/''/g, "'") : undefined;
}
