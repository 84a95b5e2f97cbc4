import type { SqlExecutor } from '../db/database.js';

/** What `check` reads about the connected role and database, straight from the catalog. */
export interface DatabaseCatalog {
  role: string;
  database: string;
  superuser: boolean;
  replication: boolean;
  /** CREATE on the database: new schemas, and publications. */
  createOnDatabase: boolean;
  vectorsyncSchema: { exists: boolean; usage: boolean; create: boolean };
  /** vectorsync's tables and sequences this role lacks a privilege on, with what is missing. */
  vectorsyncObjectsLacking: Array<{ name: string; missing: string[] }>;
  vectorExtension: { installed: boolean; available: boolean; trusted: boolean };
  walLevel: string;
  maxReplicationSlots: number;
  replicationSlotsUsed: number;
}

export async function readDatabaseCatalog(db: SqlExecutor): Promise<DatabaseCatalog> {
  const facts = await db.query<{
    role: string;
    database: string;
    superuser: boolean;
    replication: boolean;
    create_db: boolean;
    schema_exists: boolean;
    schema_usage: boolean | null;
    schema_create: boolean | null;
    vector_installed: boolean;
    vector_available: boolean;
    vector_trusted: boolean | null;
    wal_level: string;
    max_slots: number;
    used_slots: number;
  }>(
    `SELECT current_user AS role, current_database() AS database, r.rolsuper AS superuser,
            r.rolreplication AS replication,
            has_database_privilege(current_database(), 'CREATE') AS create_db,
            n.oid IS NOT NULL AS schema_exists,
            CASE WHEN n.oid IS NOT NULL THEN has_schema_privilege(n.oid, 'USAGE') END AS schema_usage,
            CASE WHEN n.oid IS NOT NULL THEN has_schema_privilege(n.oid, 'CREATE') END AS schema_create,
            EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS vector_installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS vector_available,
            (SELECT v.trusted FROM pg_available_extension_versions v JOIN pg_available_extensions a
                 ON a.name = v.name AND a.default_version = v.version
              WHERE v.name = 'vector') AS vector_trusted,
            current_setting('wal_level') AS wal_level,
            current_setting('max_replication_slots')::int AS max_slots,
            (SELECT count(*)::int FROM pg_replication_slots) AS used_slots
       FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = 'vectorsync'
      WHERE r.rolname = current_user`,
  );
  const row = facts.rows[0]!;
  const lacking = row.schema_exists
    ? await db.query<{ name: string; missing: string[] }>(
        `SELECT c.relname AS name, array_remove(ARRAY[
                  CASE WHEN c.relkind = 'S' AND NOT has_sequence_privilege(c.oid, 'USAGE') THEN 'USAGE' END,
                  CASE WHEN c.relkind <> 'S' AND NOT has_table_privilege(c.oid, 'SELECT') THEN 'SELECT' END,
                  CASE WHEN c.relkind <> 'S' AND NOT has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
                  CASE WHEN c.relkind <> 'S' AND NOT has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
                  CASE WHEN c.relkind <> 'S' AND NOT has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END
                ], NULL) AS missing
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'vectorsync' AND c.relkind IN ('r', 'p', 'S')
          -- Tables before sequences, in creation order: vectorsync's own before the index tables.
          ORDER BY c.relkind = 'S', c.oid`,
      )
    : { rows: [] };
  return {
    role: row.role,
    database: row.database,
    superuser: row.superuser,
    replication: row.replication,
    createOnDatabase: row.create_db,
    vectorsyncSchema: {
      exists: row.schema_exists,
      usage: row.schema_usage ?? false,
      create: row.schema_create ?? false,
    },
    vectorsyncObjectsLacking: lacking.rows.filter((object) => object.missing.length > 0),
    vectorExtension: {
      installed: row.vector_installed,
      available: row.vector_available,
      trusted: row.vector_trusted ?? false,
    },
    walLevel: row.wal_level,
    maxReplicationSlots: row.max_slots,
    replicationSlotsUsed: row.used_slots,
  };
}

/** The CDC objects vectorsync owns, if they exist yet. */
export async function readCdcObjects(
  db: SqlExecutor,
  publication: string,
  slot: string,
): Promise<{ publication?: { owner: string; ownedByCurrentRole: boolean }; slotExists: boolean }> {
  const pub = await db.query<{ owner: string; owned: boolean }>(
    `SELECT pg_get_userbyid(pubowner) AS owner, pg_has_role(pubowner, 'USAGE') AS owned
       FROM pg_publication WHERE pubname = $1`,
    [publication],
  );
  const slots = await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  const found = pub.rows[0];
  return {
    ...(found ? { publication: { owner: found.owner, ownedByCurrentRole: found.owned } } : {}),
    slotExists: (slots.rowCount ?? 0) > 0,
  };
}
