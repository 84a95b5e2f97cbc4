import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { PgDatabase } from '../src/db/pg-database.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
import {
  assertIndexMatchesSourceAcross,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

interface DriftRow {
  source_id: string;
  op: string;
  status: string;
  last_error_code: string | null;
  last_error: string | null;
}

/**
 * Dual-write through the documents API, with the pgvector store in a Postgres cluster of its own
 * so it can really go away (stopped) or really stall (a table lock held by another session).
 */
describe('dual-write: the documents API writes the source, then the index', () => {
  let testDb: TestDatabase;
  let storeCluster: PostgresCluster;
  let storeDb: PgDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let app: FastifyInstance;
  let location: string;
  const keys = { acme: '', admin: '' };

  before(async () => {
    testDb = await createTestDatabase('dual_write');
    storeCluster = await PostgresCluster.start();
    storeDb = PgDatabase.fromUrl(storeCluster.url(), { max: 2 });
    await createProductsTable(testDb.db);
    // Rows that exist before setup reach the index through the backfill.
    await insertProducts(testDb.db, 'acme', products(20, 41));
    // A generous timeout: on a loaded machine a healthy write must still count as applied.
    runtime = await openProductsRuntime(testDb, {
      config: productsConfigWith(testDb, {
        mode: 'dual-write',
        storeDatabaseUrl: storeCluster.url(),
        sync: { dualWriteTimeoutMs: 10_000 },
      }),
    });
    location = runtime.activeTarget('products').record.location;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
    app = createServer({ runtime, logger: silentLogger });
    keys.acme = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
    await waitFor(() => indexMatchesSource(testDb.db, location, storeDb), {
      message: 'the backfill to reach the store',
    });
  });

  after(async () => {
    await app?.close();
    await workers?.stop();
    await runtime?.close();
    await storeDb?.close();
    await storeCluster?.destroy();
    await testDb?.drop();
  });

  const call = (server: FastifyInstance, method: string, url: string, key: string, payload?: object) =>
    server.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload }),
    });
  const documents = '/v1/collections/products/documents';
  const keywordHits = async (q: string) => {
    const response = await call(
      app,
      'GET',
      `/v1/collections/products/search?q=${encodeURIComponent(q)}&mode=keyword&k=5`,
      keys.acme,
    );
    assert.equal(response.statusCode, 200, response.body);
    return (response.json().hits as Array<{ id: string }>).map((hit) => hit.id);
  };
  const storedVersion = async (id: string) => (await indexRows(storeDb, location)).get(id)?.version;
  const sourceRow = async (id: string) =>
    (
      await testDb.db.query<{ name: string; version: string }>(
        'SELECT name, version::text AS version FROM products WHERE article_id = $1',
        [id],
      )
    ).rows[0];
  const driftEvents = async (ids: readonly string[]) =>
    (
      await testDb.db.query<DriftRow>(
        `SELECT source_id, op, status, last_error_code, last_error FROM vectorsync.outbox
          WHERE origin = 'dual-write' AND source_id = ANY($1::text[]) ORDER BY id`,
        [ids],
      )
    ).rows;
  const converged = (message: string) =>
    waitFor(() => indexMatchesSource(testDb.db, location, storeDb), {
      timeoutMs: 60_000,
      message: async () =>
        `${message}: ${await assertIndexMatchesSourceAcross(testDb.db, storeDb, location).catch((e) => e.message)}`,
    });
  const assertApplied = (response: LightMyRequestResponse, status: number) => {
    assert.equal(response.statusCode, status, response.body);
    assert.equal(response.headers['x-vectorsync-index'], 'applied', response.body);
  };

  it('with the store up, POST, PUT, PATCH and DELETE are in the index when the response returns', async () => {
    const id = '0777000001';
    // No waiting anywhere below: the response itself promises the index has the change.
    const created = await call(app, 'POST', documents, keys.acme, {
      article_id: id,
      name: 'Quokka sequin blazer',
      description: 'A sequin blazer with quokka embroidery',
      product_type: 'Blazer',
      color: 'Gold',
    });
    assertApplied(created, 201);
    assert.equal(await storedVersion(id), Number(created.json().version));
    assert.equal((await keywordHits('quokka sequin blazer'))[0], id);

    const replaced = await call(app, 'PUT', `${documents}/${id}`, keys.acme, {
      name: 'Axolotl linen kimono',
      product_type: 'Kimono',
    });
    assertApplied(replaced, 200);
    assert.ok(Number(replaced.json().version) > Number(created.json().version));
    assert.equal(await storedVersion(id), Number(replaced.json().version));
    assert.equal((await keywordHits('axolotl linen kimono'))[0], id);
    assert.ok(!(await keywordHits('quokka sequin')).includes(id), 'the replaced text is gone');

    const patched = await call(app, 'PATCH', `${documents}/${id}`, keys.acme, { color: 'Tangerine' });
    assertApplied(patched, 200);
    assert.equal(await storedVersion(id), Number(patched.json().version));
    assert.equal((await keywordHits('tangerine'))[0], id);

    const deleted = await call(app, 'DELETE', `${documents}/${id}`, keys.acme);
    assertApplied(deleted, 204);
    assert.equal(await storedVersion(id), undefined);
    assert.ok(!(await keywordHits('axolotl linen kimono')).includes(id));

    assert.deepEqual(await driftEvents([id]), [], 'a healthy store records no drift');
    await assertIndexMatchesSourceAcross(testDb.db, storeDb, location);
  });

  it('a rejected write reports its documented error and neither touches the index nor records drift', async () => {
    const existing = (await testDb.db.query<{ id: string }>('SELECT article_id AS id FROM products LIMIT 1'))
      .rows[0]!.id;
    const cases = [
      {
        method: 'PUT',
        url: `${documents}/0000000000`,
        body: { name: 'x' },
        status: 404,
        code: 'DOCUMENT_NOT_FOUND',
      },
      {
        method: 'PATCH',
        url: `${documents}/0000000000`,
        body: { name: 'x' },
        status: 404,
        code: 'DOCUMENT_NOT_FOUND',
      },
      { method: 'DELETE', url: `${documents}/0000000000`, status: 404, code: 'DOCUMENT_NOT_FOUND' },
      {
        method: 'POST',
        url: documents,
        body: { article_id: existing, name: 'duplicate' },
        status: 409,
        code: 'DOCUMENT_EXISTS',
      },
      {
        method: 'POST',
        url: documents,
        body: { article_id: '0777000002', name: 'Bad price', price: 'cheap' },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
      },
      {
        method: 'PATCH',
        url: `${documents}/${existing}`,
        body: { name: null },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
      },
    ] as const;
    const before = await indexRows(storeDb, location);
    for (const example of cases) {
      const response = await call(
        app,
        example.method,
        example.url,
        keys.acme,
        'body' in example ? example.body : undefined,
      );
      const label = `${example.method} ${example.url}`;
      assert.equal(response.statusCode, example.status, `${label}: ${response.body}`);
      assert.equal(response.json().error.code, example.code, label);
      assert.equal(
        response.headers['x-vectorsync-index'],
        undefined,
        `${label}: no index write was attempted`,
      );
    }
    assert.deepEqual(await indexRows(storeDb, location), before, 'the index is untouched');
    assert.deepEqual(await driftEvents(['0000000000', '0777000002', existing]), []);
  });

  it('with the store down, writes still succeed, report drift, and are repaired when it returns', async () => {
    const [kept, removed] = (
      await testDb.db.query<{ id: string }>(
        'SELECT article_id AS id FROM products ORDER BY article_id LIMIT 2',
      )
    ).rows.map((row) => row.id);
    const added = '0777000003';
    await storeCluster.stopServer();
    try {
      const responses = [
        await call(app, 'POST', documents, keys.acme, {
          article_id: added,
          name: 'Narwhal fleece parka',
          product_type: 'Parka',
        }),
        await call(app, 'PUT', `${documents}/${kept}`, keys.acme, { name: 'Pangolin suede loafer' }),
        await call(app, 'PATCH', `${documents}/${kept}`, keys.acme, { color: 'Ochre' }),
        await call(app, 'DELETE', `${documents}/${removed}`, keys.acme),
      ];
      // Each request came back although the store could not be reached: none waited for it.
      assert.deepEqual(
        responses.map((response) => [response.statusCode, response.headers['x-vectorsync-index']]),
        [
          [201, 'drift'],
          [200, 'drift'],
          [200, 'drift'],
          [204, 'drift'],
        ],
        responses.map((response) => response.body).join('\n'),
      );
      // The source has every change.
      assert.equal((await sourceRow(added!))?.name, 'Narwhal fleece parka');
      assert.equal((await sourceRow(kept!))?.name, 'Pangolin suede loafer');
      assert.equal(await sourceRow(removed!), undefined);

      // Drift is recorded as outbox events the workers will apply, with the store error...
      const drift = await driftEvents([added, kept!, removed!]);
      assert.deepEqual(
        drift.map((row) => [row.source_id, row.op]),
        [
          [added, 'upsert'],
          [kept, 'upsert'],
          [kept, 'upsert'],
          [removed, 'delete'],
        ],
      );
      for (const row of drift) {
        assert.equal(row.last_error_code, 'STORE_UNAVAILABLE', row.last_error ?? '');
        assert.notEqual(row.status, 'failed', 'an outage is not a failure');
      }
      // ...that sync status counts as drift, and the events API lists with their origin.
      const status = await waitFor(
        async () => {
          const collection = (await readSyncStatus(runtime)).collections[0]!;
          return collection.drift === 4 ? collection : undefined;
        },
        { message: 'sync status to count 4 drift events' },
      );
      assert.equal(status.failed, 0);
      const overHttp = await call(app, 'GET', '/v1/sync/status', keys.admin);
      assert.equal(overHttp.json().collections[0].drift, 4);
      // Newest first by event id (numerically: event 24 comes before event 9), so the drift just
      // recorded heads the list, and pages continue where the previous one ended.
      type Listed = { id: string; sourceId: string; origin: string; lastErrorCode: string | null };
      const firstPage = await call(app, 'GET', '/v1/sync/events?collection=products&limit=4', keys.admin);
      const listed = firstPage.json().events as Listed[];
      assert.deepEqual(
        listed.map((event) => [event.origin, event.sourceId, event.lastErrorCode]),
        [
          ['dual-write', removed, 'STORE_UNAVAILABLE'],
          ['dual-write', kept, 'STORE_UNAVAILABLE'],
          ['dual-write', kept, 'STORE_UNAVAILABLE'],
          ['dual-write', added, 'STORE_UNAVAILABLE'],
        ],
      );
      const nextPage = await call(
        app,
        'GET',
        `/v1/sync/events?collection=products&limit=100&before=${firstPage.json().next}`,
        keys.admin,
      );
      const ids = [...listed, ...(nextPage.json().events as Listed[])].map((event) => BigInt(event.id));
      const all = await testDb.db.query<{ id: string }>(
        `SELECT id::text AS id FROM vectorsync.outbox WHERE collection = 'products'`,
      );
      assert.equal(ids.length, all.rows.length, 'two pages list every event once');
      for (let i = 1; i < ids.length; i++)
        assert.ok(ids[i - 1]! > ids[i]!, `event ${ids[i - 1]} before ${ids[i]}`);
    } finally {
      await storeCluster.startServer();
    }

    await converged('the drift to be repaired once the store is back');
    await waitFor(
      async () => (await driftEvents([added, kept!, removed!])).every((row) => row.status === 'done'),
      { message: 'every drift event to be done' },
    );
    assert.equal((await readSyncStatus(runtime)).collections[0]!.drift, 0);
    assert.equal(await storedVersion(kept!), Number((await sourceRow(kept!))!.version));
    assert.equal(await storedVersion(removed!), undefined);
    assert.equal((await keywordHits('pangolin suede loafer'))[0], kept);
    assert.equal((await keywordHits('narwhal fleece parka'))[0], added);
  });

  it('a store slower than sync.dualWriteTimeoutMs does not hold the request; the late write cannot win over a newer one', async () => {
    // A second service process with a small timeout, sharing the database, store and workers.
    const slowRuntime = await openProductsRuntime(testDb, {
      config: productsConfigWith(testDb, {
        mode: 'dual-write',
        storeDatabaseUrl: storeCluster.url(),
        sync: { dualWriteTimeoutMs: 200 },
      }),
      setup: false,
    });
    const slowApp = createServer({ runtime: slowRuntime, logger: silentLogger });
    const locker = new pg.Client({ connectionString: storeCluster.url() });
    await locker.connect();
    const [edited, deleted] = ['0777000010', '0777000011'];
    let locked = false;
    try {
      for (const id of [edited, deleted]) {
        const response = await call(app, 'POST', documents, keys.acme, {
          article_id: id,
          name: `Seed ${id}`,
        });
        assertApplied(response, 201);
      }
      const seededVersion = await storedVersion(edited);
      assert.ok(seededVersion);

      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE vectorsync."${location}" IN ACCESS EXCLUSIVE MODE`);
      locked = true;
      const responses = [
        await call(slowApp, 'PUT', `${documents}/${edited}`, keys.acme, { name: 'Capybara tweed waistcoat' }),
        await call(slowApp, 'PATCH', `${documents}/${edited}`, keys.acme, { name: 'Ibex merino cardigan' }),
        await call(slowApp, 'PUT', `${documents}/${deleted}`, keys.acme, { name: 'Tapir canvas tote' }),
        await call(slowApp, 'DELETE', `${documents}/${deleted}`, keys.acme),
      ];
      assert.deepEqual(
        responses.map((response) => [response.statusCode, response.headers['x-vectorsync-index']]),
        [
          [200, 'drift'],
          [200, 'drift'],
          [200, 'drift'],
          [204, 'drift'],
        ],
        responses.map((response) => response.body).join('\n'),
      );
      // The requests returned while their index writes were still blocked behind the lock: the
      // store (seen from the lock holder) still has the seeded version, and writers are waiting.
      const stillSeeded = await locker.query<{ version: string }>(
        `SELECT version::text AS version FROM vectorsync."${location}" WHERE id = $1`,
        [edited],
      );
      assert.equal(Number(stillSeeded.rows[0]?.version), seededVersion);
      const waiting = await locker.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE relation = $1::regclass AND NOT granted`,
        [`vectorsync."${location}"`],
      );
      assert.ok(waiting.rows[0]!.n >= 1, 'the timed-out index writes are still in flight');

      const drift = await driftEvents([edited, deleted]);
      assert.deepEqual(
        drift.map((row) => [row.source_id, row.op, row.last_error_code]),
        [
          [edited, 'upsert', 'DUAL_WRITE_TIMEOUT'],
          [edited, 'upsert', 'DUAL_WRITE_TIMEOUT'],
          [deleted, 'upsert', 'DUAL_WRITE_TIMEOUT'],
          [deleted, 'delete', 'DUAL_WRITE_TIMEOUT'],
        ],
      );
      assert.match(drift[0]!.last_error ?? '', /dualWriteTimeoutMs/);
    } finally {
      if (locked) await locker.query('COMMIT');
      await locker.end();
    }

    try {
      await converged('the index to converge after the lock is released');
      // Let every late write land (the timed-out ones and the repairs), then check again: a late
      // write of an older read must not have overwritten the newer version or revived the delete.
      await waitFor(
        async () =>
          (await driftEvents([edited, deleted])).every((row) => row.status === 'done') &&
          (
            await storeDb.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_locks WHERE relation = $1::regclass AND NOT granted`,
              [`vectorsync."${location}"`],
            )
          ).rows[0]!.n === 0,
        { message: 'drift repaired and no write waiting' },
      );
      await assertIndexMatchesSourceAcross(testDb.db, storeDb, location);
      const source = await sourceRow(edited);
      assert.equal(source?.name, 'Ibex merino cardigan');
      assert.equal(await storedVersion(edited), Number(source!.version));
      assert.equal(await storedVersion(deleted), undefined);
      assert.equal((await keywordHits('ibex merino cardigan'))[0], edited);
      assert.ok(!(await keywordHits('capybara tweed waistcoat')).includes(edited));
      const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status = 'failed'`);
      assert.equal(failed.rowCount, 0);
    } finally {
      await slowApp.close();
      await slowRuntime.close();
    }
  });
});
