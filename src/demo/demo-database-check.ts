import type { SqlExecutor } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { DEMO_TABLE_COMMENT } from './demo-schema.js';

/** How many table names the refusal lists before "and N more". */
const LISTED_TABLES = 10;

/**
 * The demo creates a products table, the vectorsync schema and API keys. In a database that
 * already holds tables it would quietly add all of that to someone's data, so it refuses (unless
 * forced), naming the database and what it found. A database the demo set up before (its
 * products table carries the demo's mark) is its own, and may be used again.
 */
export async function assertDemoDatabaseIsFree(db: SqlExecutor, where: { host: string }): Promise<void> {
  const database = (await db.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
  const tables = await db.query<{ name: string; comment: string | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
        -- tables that belong to an extension (e.g. PostGIS' spatial_ref_sys) are not the user's data
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY n.nspname, c.relname`,
  );
  if (tables.rows.length === 0) return;
  const demoCatalog = tables.rows.find((row) => row.name === 'public.products');
  if (demoCatalog?.comment === DEMO_TABLE_COMMENT) return;
  const names = tables.rows.map((row) => row.name);
  // The application's own tables first; vectorsync's (an existing installation) as one item.
  const own = names.filter((name) => !name.startsWith('vectorsync.'));
  const vectorsync = names.length - own.length;
  const items = [
    ...own.slice(0, LISTED_TABLES),
    ...(own.length > LISTED_TABLES ? [`${own.length - LISTED_TABLES} more`] : []),
    ...(vectorsync > 0 ? [`${vectorsync} in the vectorsync schema (vectorsync is set up here)`] : []),
  ];
  const listed = items.join(', ');
  throw new VectorsyncError(
    ErrorCode.DemoDatabaseNotEmpty,
    `database "${database}" on ${where.host} already has ${names.length} table(s): ${listed}. The demo would add its own products table, the vectorsync schema and API keys to it. Point DATABASE_URL at an empty database (e.g. \`createdb vectorsync_demo\`), unset it to use embedded Postgres, or pass --force to use this one anyway`,
    { details: { database, host: where.host, tables: names } },
  );
}
