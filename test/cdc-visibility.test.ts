import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { slotInfo } from '../src/capture/cdc/cdc-setup.js';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  insertProducts,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import type { TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Issue 11, defect 1. A commit reaches a logical walsender once its WAL is flushed, but other
 * sessions see it only when its writer leaves the proc array, which a writer waiting for a
 * synchronous standby does not do. A consumer that re-reads rows as soon as the commit arrives
 * reads the state before the change, then confirms the slot past it: the change is lost for
 * good. The cluster is this file's own, because a synchronous standby that does not exist
 * would make every other test's commits wait.
 */
describe('CDC never applies a commit before other sessions can see it', () => {
  let cluster: PostgresCluster;
  let db: PgDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let location: string;
  const writers: pg.Client[] = [];

  async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: cluster.url('vs') });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  async function setStandbys(names: string): Promise<void> {
    await admin(async (client) => {
      await client.query(`ALTER SYSTEM SET synchronous_standby_names = '${names}'`);
      await client.query('SELECT pg_reload_conf()');
    });
    // The reload reaches each backend asynchronously: wait until a new session sees it.
    await waitFor(
      () =>
        admin(
          async (client) =>
            (await client.query('SHOW synchronous_standby_names')).rows[0].synchronous_standby_names ===
            names,
        ),
      { message: `synchronous_standby_names = '${names}'` },
    );
  }

  before(async () => {
    cluster = await PostgresCluster.start();
    const setup = new pg.Client({ connectionString: cluster.url() });
    await setup.connect();
    await setup.query('CREATE DATABASE vs');
    await setup.end();
    // vectorsync's own sessions never wait for a standby (the reproduction).
    const url = `${cluster.url('vs')}?options=${encodeURIComponent('-c synchronous_commit=local')}`;
    db = PgDatabase.fromUrl(url, { max: 4 });
    await db.query('CREATE EXTENSION vector');
    await migrate(db);
    await createProductsTable(db);
    const [a, b] = products(2, 41);
    await insertProducts(db, 'acme', [
      { ...a!, article_id: 'update-me' },
      { ...b!, article_id: 'delete-me' },
    ]);
    const config = productsConfigWith({ name: 'vs', url } as TestDatabase, { mode: 'cdc' });
    runtime = await VectorsyncRuntime.open({ config, db: PgDatabase.fromUrl(url, { max: 6 }) });
    await setupCollections(runtime);
    location = runtime.activeTarget('products').record.location;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
    await waitFor(() => indexMatchesSource(db, location), { message: 'the backfill' });
  });

  after(async () => {
    // A failed run may leave writers waiting for the standby: release them first.
    if (cluster) await setStandbys('').catch(() => undefined);
    for (const writer of writers) await writer.end().catch(() => undefined);
    await workers?.stop();
    await runtime?.close();
    await db?.close();
    await cluster?.destroy();
  });

  it('waits for writers held by a synchronous standby, then applies exactly their changes', async () => {
    const before = await indexRows(db, location);
    await setStandbys('nobody');
    let applied = 0;
    workers.cdc!.on('batch', (report) => {
      applied += report.events;
    });
    const [c] = products(1, 42);
    const statements: Array<[string, unknown[]]> = [
      [
        `INSERT INTO products (article_id, tenant_id, name, description) VALUES ('insert-me', 'acme', $1, $2)`,
        [c!.name, c!.description],
      ],
      [`UPDATE products SET name = 'Renamed while waiting' WHERE article_id = 'update-me'`, []],
      [`DELETE FROM products WHERE article_id = 'delete-me'`, []],
    ];
    const pending: Array<Promise<unknown>> = [];
    for (const [sql, values] of statements) {
      const writer = new pg.Client({
        connectionString: cluster.url('vs'),
        application_name: 'syncrep-writer',
      });
      await writer.connect();
      writers.push(writer);
      await writer.query('SET synchronous_commit = on');
      pending.push(writer.query(sql, values));
    }
    const waiters = await waitFor(
      async () => {
        const result = await db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'syncrep-writer' AND wait_event = 'SyncRep'`,
        );
        return result.rows.length === 3 ? result.rows.map((row) => row.pid) : undefined;
      },
      { message: 'the three writers to wait for the standby' },
    );
    // Their commit records are flushed: the walsender streams them to the consumer now, which
    // either applies them at once (reading rows from before the change) or waits.
    const consumerReacted = await waitFor(
      async () => {
        if (applied > 0) return 'applied them';
        const status = await readSyncStatus(runtime);
        return status.cdc?.waitingForVisibility ? 'waiting' : undefined;
      },
      { message: 'the consumer to receive the commits' },
    );
    assert.equal(consumerReacted, 'waiting', 'nothing may be applied from a state older than the change');
    const slot = await slotInfo(db, runtime.config.cdc.slot);
    assert.ok(slot, 'the slot exists');
    const rows = await indexRows(db, location);
    assert.deepEqual([...rows.keys()].sort(), [...before.keys()].sort(), 'nothing was applied meanwhile');

    // Cancelling the waits leaves the transactions committed; now they become visible.
    await admin(async (client) => {
      for (const pid of waiters) await client.query('SELECT pg_cancel_backend($1)', [pid]);
    });
    await Promise.all(pending);
    await setStandbys('');
    await waitFor(() => indexMatchesSource(db, location), {
      timeoutMs: 30_000,
      message: async () =>
        `the index to match the source: ${await assertIndexMatchesSource(db, location).catch((error: Error) => error.message)}`,
    });
    const after = await indexRows(db, location);
    assert.ok(after.has('insert-me'), 'the insert is indexed');
    assert.ok(!after.has('delete-me'), 'the delete removed the record');
    assert.ok(
      after.get('update-me')!.version > before.get('update-me')!.version,
      'the update is indexed at its new version',
    );
    const status = await readSyncStatus(runtime);
    assert.equal(status.cdc?.waitingForVisibility, null);
    assert.equal(status.collections[0]?.failed, 0);
  });
});
