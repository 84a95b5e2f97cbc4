import { readdir, readFile } from 'node:fs/promises';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { Database, SqlExecutor } from './database.js';

export interface Migration {
  id: number;
  name: string;
  /** Marked `-- vectorsync:breaking` in the file: older code must not run against it. */
  breaking: boolean;
  sql: string;
}

export interface MigrationResult {
  applied: Array<{ id: number; name: string }>;
  current: number;
}

/** Any fixed number shared by every vectorsync process; it serialises migrations. */
const MIGRATION_LOCK_KEY = 0x76737963; // "vsyc"

const migrationsDir = new URL('../../sql/migrations/', import.meta.url);

export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(migrationsDir)).filter((file) => /^\d{6}_[a-z0-9_]+\.sql$/.test(file)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const sql = await readFile(new URL(file, migrationsDir), 'utf8');
    migrations.push({
      id: Number(file.slice(0, 6)),
      name: file.slice(7, -4),
      breaking: /^--\s*vectorsync:breaking/m.test(sql),
      sql,
    });
  }
  // Numbers are reserved per change and branches merge in any order, so a gap is allowed;
  // a duplicate number is not.
  migrations.forEach((migration, index) => {
    if (index > 0 && migration.id <= migrations[index - 1]!.id)
      throw new Error(`migration files must have distinct increasing numbers: ${migration.name}`);
  });
  return migrations;
}

async function ensureMigrationsTable(tx: SqlExecutor): Promise<void> {
  await tx.query('CREATE SCHEMA IF NOT EXISTS vectorsync');
  await tx.query(
    `CREATE TABLE IF NOT EXISTS vectorsync.migrations (
       id int PRIMARY KEY, name text NOT NULL, breaking boolean NOT NULL DEFAULT false,
       applied_at timestamptz NOT NULL DEFAULT now())`,
  );
}

async function appliedMigrations(db: SqlExecutor): Promise<Array<{ id: number; breaking: boolean }>> {
  const exists = await db.query<{ present: boolean }>(
    `SELECT to_regclass('vectorsync.migrations') IS NOT NULL AS present`,
  );
  if (!exists.rows[0]?.present) return [];
  const result = await db.query<{ id: number; breaking: boolean }>(
    'SELECT id, breaking FROM vectorsync.migrations ORDER BY id',
  );
  return result.rows;
}

function assertNotAhead(applied: Array<{ id: number; breaking: boolean }>, known: Migration[]): void {
  const latestKnown = known.at(-1)?.id ?? 0;
  const unknownBreaking = applied.filter((row) => row.id > latestKnown && row.breaking);
  if (unknownBreaking.length > 0) {
    throw new VectorsyncError(
      ErrorCode.MigrationAhead,
      `the database schema is at migration ${unknownBreaking.at(-1)!.id}, which this version of vectorsync (knows ${latestKnown}) cannot run against; upgrade vectorsync`,
      { details: { databaseMigration: applied.at(-1)?.id, knownMigration: latestKnown } },
    );
  }
}

/** Applies pending migrations, each in its own transaction under an advisory lock. Idempotent. */
export async function migrate(db: Database, logger: Logger = silentLogger): Promise<MigrationResult> {
  const migrations = await loadMigrations();
  const applied: MigrationResult['applied'] = [];
  for (const migration of migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await ensureMigrationsTable(tx);
      const done = await appliedMigrations(tx);
      assertNotAhead(done, migrations);
      if (done.some((row) => row.id === migration.id)) return false;
      await tx.query(migration.sql);
      await tx.query('INSERT INTO vectorsync.migrations (id, name, breaking) VALUES ($1, $2, $3)', [
        migration.id,
        migration.name,
        migration.breaking,
      ]);
      return true;
    });
    if (ran) {
      applied.push({ id: migration.id, name: migration.name });
      logger.info({ migration: migration.id, name: migration.name }, 'applied migration');
    }
  }
  return { applied, current: migrations.at(-1)?.id ?? 0 };
}

export interface MigrationState {
  /** Ids recorded in the database (none: vectorsync was never installed there). */
  applied: number[];
  /** Migrations this code knows that the database lacks, in order. */
  pending: Migration[];
  /** Breaking migrations the database has that this code does not know (it must not run). */
  unknownBreaking: number[];
  latestKnown: number;
}

/** Where the database stands against this code's migrations, without changing or refusing anything. */
export async function readMigrationState(db: SqlExecutor): Promise<MigrationState> {
  const migrations = await loadMigrations();
  const applied = await appliedMigrations(db);
  const latestKnown = migrations.at(-1)?.id ?? 0;
  return {
    applied: applied.map((row) => row.id),
    pending: migrations.filter((migration) => !applied.some((row) => row.id === migration.id)),
    unknownBreaking: applied.filter((row) => row.id > latestKnown && row.breaking).map((row) => row.id),
    latestKnown,
  };
}

/** Fails unless the database is exactly at the schema this code expects (used at start-up). */
export async function assertMigrated(db: SqlExecutor): Promise<void> {
  const migrations = await loadMigrations();
  const applied = await appliedMigrations(db);
  assertNotAhead(applied, migrations);
  const missing = migrations.filter((migration) => !applied.some((row) => row.id === migration.id));
  if (missing.length > 0) {
    throw new VectorsyncError(
      ErrorCode.MigrationsPending,
      `the database is missing ${missing.length} vectorsync migration(s) (next: ${missing[0]!.id}_${missing[0]!.name}); run \`vectorsync migrate\``,
      { details: { pending: missing.map((migration) => migration.id) } },
    );
  }
}
