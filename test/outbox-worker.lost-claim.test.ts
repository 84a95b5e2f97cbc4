import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { RawJetStream, testBusConfig } from './helpers/bus-fixture.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
import {
  createProductsTable,
  insertProducts,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import type { TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Issue 11, chaos run 10 (outbox + bus / LanceDB froze with two events open for 600 s). A claim
 * is an UPDATE that commits on the server; when the connection breaks after the commit and
 * before the answer arrives, the worker sees an error while the events are `processing` under
 * its id. The worker lives on and heartbeats, so the rescue of dead workers' events never takes
 * them back: they stayed open forever. Here the break is made certain, not timed: the worker's
 * sessions wait for a synchronous standby that does not exist, so its claim has committed
 * locally and waits (`SyncRep`) when the test terminates that backend. The cluster is this
 * file's own, because such a standby would make every other test's commits wait.
 */
describe('an outbox claim whose answer was lost', () => {
  let cluster: PostgresCluster;
  let db: PgDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let raw: RawJetStream;
  const testDb = { name: 'lost_claim' } as TestDatabase;

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
    // The test's own sessions never wait for a standby (the cluster default); the worker's do.
    db = PgDatabase.fromUrl(cluster.url('vs'), { max: 2 });
    await db.query('CREATE EXTENSION vector');
    await migrate(db);
    await createProductsTable(db);
    const workerUrl = `${cluster.url('vs')}?options=${encodeURIComponent('-c synchronous_commit=on')}`;
    testDb.url = workerUrl;
    // One loop, and a worker timeout far beyond the test: only the worker itself can release
    // its events (the rescue of dead workers must not do it for it).
    const config = productsConfigWith(testDb, {
      mode: 'outbox',
      bus: testBusConfig(testDb),
      sync: { concurrency: 1, workerTimeoutMs: 600_000 },
    });
    runtime = await VectorsyncRuntime.open({ config, db: PgDatabase.fromUrl(workerUrl, { max: 4 }) });
    await setupCollections(runtime);
    raw = await RawJetStream.connect(config.bus!.url, config.bus!.stream);
    workers = new SyncWorkers(runtime, runtime.logger, { busConsumer: false });
    await workers.start();
  });

  after(async () => {
    if (cluster) await setStandbys('').catch(() => undefined);
    await workers?.stop();
    await raw?.deleteStream();
    await raw?.close();
    await runtime?.close();
    await db?.close();
    await cluster?.destroy();
  });

  it('is returned to the queue by its live worker and published', async () => {
    const workerId = workers.outbox.id;
    await setStandbys('nobody');
    const rows = products(5, 61);
    await insertProducts(db, 'acme', rows);
    // The claim has committed locally and waits for the standby: kill its session now.
    const claimPid = await waitFor(
      () =>
        admin(async (client) => {
          const result = await client.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
              WHERE wait_event = 'SyncRep' AND query LIKE '%SET status = ''processing''%'`,
          );
          return result.rows[0]?.pid;
        }),
      { message: 'the worker to claim the events (waiting for the standby)' },
    );
    await admin((client) => client.query('SELECT pg_terminate_backend($1)', [claimPid]));

    // Committed, but the worker never learnt it: the events are its own, processed by nobody.
    // Read while the standby is still required: the worker's release of them waits for it then,
    // unseen, so what is read is the lost claim itself (once its backend has exited).
    await waitFor(
      () =>
        admin(
          async (client) =>
            (
              await client.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE locked_by = $1`,
                [workerId],
              )
            ).rows[0]!.n > 0 || undefined,
        ),
      { message: 'the lost claim to be seen committed: events processing under the live worker' },
    );
    await setStandbys('');

    await waitFor(
      async () => {
        const open = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE status <> 'done'`,
        );
        return open.rows[0]!.n === 0 || undefined;
      },
      { timeoutMs: 30_000, message: 'the events of the lost claim to be published (outbox drained)' },
    );
    const published = new Set(
      (await raw.events(`${testBusConfig(testDb).subjectPrefix}.products`)).map((event) => event.id),
    );
    for (const row of rows) assert.ok(published.has(row.article_id), `${row.article_id} was published`);
    const counts = await db.query<{ attempts: number; crashes: number }>(
      'SELECT attempts, crashes FROM vectorsync.outbox',
    );
    // The interrupted claim used no attempt, and nobody died.
    for (const row of counts.rows) {
      assert.equal(row.crashes, 0);
      assert.equal(row.attempts, 1);
    }
  });
});
