import pg from 'pg';
import { PgDatabase } from '../../src/db/pg-database.js';

/**
 * Each test file gets its own database, created from a template that the test runner
 * migrated once (scripts/run-tests.ts). Dropping it checks that the test closed every
 * connection it opened: a leaked pool, listener or worker fails the test.
 */
export interface TestDatabase {
  name: string;
  url: string;
  db: PgDatabase;
  /** Opens another independent pool on the same database (a second "process"). */
  connect(options?: { max?: number; applicationName?: string }): PgDatabase;
  drop(): Promise<void>;
}

export function adminUrl(): string {
  const url = process.env.VECTORSYNC_TEST_ADMIN_URL;
  if (!url) throw new Error('VECTORSYNC_TEST_ADMIN_URL is not set: run the tests with `npm test`');
  return url;
}

export function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(), application_name: 'vectorsync-test-admin' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

let counter = 0;

export async function createTestDatabase(
  label = 'test',
  options: { empty?: boolean } = {},
): Promise<TestDatabase> {
  const template = options.empty ? 'template1' : process.env.VECTORSYNC_TEST_TEMPLATE;
  if (!template) throw new Error('VECTORSYNC_TEST_TEMPLATE is not set: run the tests with `npm test`');
  const name = `vs_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${process.pid}_${counter++}`;
  await withAdmin((client) =>
    client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`),
  );
  const url = databaseUrl(name);
  const pools: PgDatabase[] = [];
  const connect = (options: { max?: number; applicationName?: string } = {}) => {
    const database = PgDatabase.fromUrl(url, {
      max: options.max ?? 10,
      applicationName: options.applicationName ?? 'vectorsync-test',
    });
    pools.push(database);
    return database;
  };
  const db = connect();
  return {
    name,
    url,
    db,
    connect,
    async drop() {
      for (const pool of pools) await pool.close();
      const leaked = await withAdmin(async (client) => {
        // Give the server a moment to register disconnects that just happened.
        for (let attempt = 0; attempt < 50; attempt++) {
          const result = await client.query<{ application_name: string; state: string }>(
            'SELECT application_name, state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [name],
          );
          if (result.rows.length === 0) return [];
          if (attempt === 49) return result.rows;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return [];
      });
      await withAdmin(async (client) => {
        // A logical slot pins its database: a test that leaves one behind is cleaned up here.
        await client.query(
          `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`,
          [name],
        );
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      });
      if (leaked.length > 0) {
        throw new Error(
          `test leaked ${leaked.length} connection(s) to ${name}: ${leaked.map((row) => row.application_name || '?').join(', ')}`,
        );
      }
    },
  };
}
