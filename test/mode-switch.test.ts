import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import { silentLogger } from '../src/logger.js';
import { buildDocument } from '../src/pipeline/document-builder.js';
import { readSourceRows } from '../src/pipeline/source-reader.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { finishModeSwitch, readCaptureStates } from '../src/sync/sync-mode-switch.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { runCli } from './helpers/cli-process.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Switching a collection's sync mode while the application keeps writing: outbox → CDC → outbox →
 * dual-write, each by the documented procedure (new config, `setup`, restart the workers with the
 * new config, `switch-mode finish`). Nothing written at any moment may be missing or stale.
 */
describe('sync-mode switch under continuous writes', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  const retired: VectorsyncRuntime[] = [];
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('mode_switch');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(30, 51));
    runtime = await openProductsRuntime(testDb, { config: productsConfigWith(testDb, { mode: 'outbox' }) });
    location = runtime.activeTarget('products').record.location;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
  });

  after(async () => {
    await workers?.stop();
    for (const old of retired) await old.close();
    await runtime?.close();
    // The slot is cluster-wide: do not leave it to pin WAL after this file.
    await testDb?.db.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [`vs_${testDb.name}`.slice(0, 63)],
    );
    await testDb?.drop();
  });

  /** Step one and two of the procedure: `setup` with the new config, then restart the workers on it. */
  async function beginSwitch(to: 'outbox' | 'cdc' | 'dual-write'): Promise<ResolvedConfig> {
    const config = productsConfigWith(testDb, { mode: to });
    const next = await openProductsRuntime(testDb, { config, setup: false });
    const [result] = await setupCollections(next);
    assert.equal(
      result?.switchedFrom,
      runtime.config.collections.products!.sync.mode,
      `setup starts the switch to ${to}`,
    );
    assert.equal(result?.createdIndex, false, 'a mode switch keeps the index');
    await workers.stop();
    retired.push(runtime);
    runtime = next;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
    return config;
  }

  const captureTriggers = async () =>
    (
      await testDb.db.query<{ tgname: string }>(
        `SELECT tgname FROM pg_trigger WHERE tgrelid = 'products'::regclass AND NOT tgisinternal AND tgname NOT LIKE '%_version'`,
      )
    ).rows.length;
  const published = async () =>
    (
      await testDb.db.query(
        `SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = 'products'`,
        [runtime.config.cdc.publication],
      )
    ).rowCount;
  const triggerEvents = async () =>
    (
      await testDb.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE origin = 'trigger'`,
      )
    ).rows[0]!.n;

  it('outbox → CDC → outbox → dual-write loses no change and leaves the index equal to the source', async () => {
    const writer = startContinuousWriter(testDb.db, { seed: 17, pauseMs: 3, prefix: 'ms' });
    const writtenAtLeast = (n: number) =>
      waitFor(() => writer.stats.inserts + writer.stats.updates + writer.stats.deletes >= n, {
        timeoutMs: 30_000,
        message: `the writer to reach ${n} writes`,
      });
    let written = 0;
    const writeMore = async (n: number) => {
      written = writer.stats.inserts + writer.stats.updates + writer.stats.deletes + n;
      await writtenAtLeast(written);
    };
    let api: ApiWriter | undefined;
    let app: FastifyInstance | undefined;
    try {
      await writeMore(40);

      // outbox → CDC
      const cdcConfig = await beginSwitch('cdc');
      assert.ok((await captureTriggers()) > 0, 'the outbox triggers stay until the switch is finished');
      assert.equal(await published(), 1, 'the CDC capture runs beside them');
      const status = await runCli(cdcConfig, ['switch-mode', 'status']);
      assert.equal(status.code, 0, status.output);
      assert.match(status.stdout, /^products\s+cdc\s+cdc\s+from outbox since \d{4}-/m, status.stdout);
      assert.deepEqual((await readSyncStatus(runtime)).collections[0]!.switching?.from, 'outbox');
      await writeMore(40);
      const finished = await runCli(cdcConfig, ['switch-mode', 'finish', '-c', 'products']);
      assert.equal(finished.code, 0, finished.output);
      assert.match(finished.stdout, /now runs cdc only \(was outbox\)/);
      assert.equal(await captureTriggers(), 0, 'finish removed the outbox triggers');
      const triggerEventsAtFinish = await triggerEvents();
      await writeMore(40);
      assert.equal(await triggerEvents(), triggerEventsAtFinish, 'CDC alone captures the writes now');
      assert.equal((await readSyncStatus(runtime)).collections[0]!.switching, null);

      // CDC → outbox, with the workers down across the setup (a deploy): the slot then holds
      // changes that only CDC captured, and finish must wait until the new workers apply them.
      await workers.stop();
      await writeMore(40);
      const outboxRuntime = await openProductsRuntime(testDb, {
        config: productsConfigWith(testDb, { mode: 'outbox' }),
        setup: false,
      });
      retired.push(runtime);
      runtime = outboxRuntime;
      const [switched] = await setupCollections(runtime);
      assert.equal(switched?.switchedFrom, 'cdc');
      assert.ok((await captureTriggers()) > 0);
      assert.equal(await published(), 1, 'the table stays published until the switch is finished');
      const switchLsn = (await readCaptureStates(testDb.db)).get('products')?.switchLsn;
      assert.ok(switchLsn, 'setup recorded the switch position');
      let waited = false;
      let settled = false;
      const finishing = finishModeSwitch(runtime, 'products', {
        timeoutMs: 60_000,
        onWaiting: () => {
          waited = true;
        },
      });
      finishing.then(
        () => (settled = true),
        () => (settled = true),
      );
      await waitFor(() => waited || settled, { message: 'finish to start waiting for the slot' });
      assert.ok(waited && !settled, 'finish waits while the slot has not confirmed the switch position');
      workers = new SyncWorkers(runtime, runtime.logger);
      await workers.start();
      assert.ok(workers.cdc, 'workers keep streaming a collection that is switching away from CDC');
      const back = await finishing;
      assert.deepEqual([back.from, back.to], ['cdc', 'outbox']);
      const slot = await testDb.db.query<{ caught_up: boolean }>(
        'SELECT confirmed_flush_lsn >= $2::pg_lsn AS caught_up FROM pg_replication_slots WHERE slot_name = $1',
        [runtime.config.cdc.slot, switchLsn],
      );
      assert.equal(slot.rows[0]?.caught_up, true, 'finish returned only once the slot had confirmed it');
      assert.equal(await published(), 0, 'finish took the table out of the publication');
      const triggerEventsBeforeOutbox = await triggerEvents();
      await writeMore(40);
      assert.ok((await triggerEvents()) > triggerEventsBeforeOutbox, 'the triggers capture again');

      // outbox → dual-write. After the switch only the documents API captures changes, so direct
      // SQL writes stop before finishing, as the procedure warns; the API writes throughout.
      await beginSwitch('dual-write');
      app = createServer({ runtime, logger: silentLogger });
      const key = (await createApiKey(testDb.db, { name: 'app', tenant: 'acme' })).key;
      api = startApiWriter(app, key, 'api');
      await writeMore(30);
      await waitFor(() => api!.stats.writes >= 20, {
        timeoutMs: 30_000,
        message: 'API writes during the switch',
      });
      const sqlStats = await writer.stop();
      const toDualWrite = await finishModeSwitch(runtime, 'products');
      assert.deepEqual([toDualWrite.from, toDualWrite.to], ['outbox', 'dual-write']);
      assert.equal(await captureTriggers(), 0);
      const apiWritesAtFinish = api.stats.writes;
      await waitFor(() => api!.stats.writes >= apiWritesAtFinish + 20, {
        timeoutMs: 30_000,
        message: 'API writes after the switch',
      });
      const apiStats = await api.stop();
      api = undefined;
      assert.equal(sqlStats.errors, 0, 'no SQL write failed');
      assert.deepEqual(apiStats.unexpected, [], 'no API write failed');
      assert.ok(
        sqlStats.inserts > 50 && sqlStats.updates > 20 && sqlStats.deletes > 5,
        JSON.stringify(sqlStats),
      );
    } finally {
      await api?.stop();
      await writer.stop();
      await app?.close();
    }

    await waitFor(async () => (await outboxDrained(testDb.db)) && indexMatchesSource(testDb.db, location), {
      timeoutMs: 60_000,
      message: async () =>
        `drain and match: ${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)}`,
    });
    const { rows } = await assertIndexMatchesSource(testDb.db, location);
    assert.ok(rows > 100, `the index holds what was written (${rows} rows)`);
    await assertContentMatchesSource(runtime, location);
    const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status <> 'done'`);
    assert.equal(failed.rowCount, 0, 'no event failed or was left behind');
  });
});

/** Every index row's content hash and payload equal what a fresh build from its source row gives. */
async function assertContentMatchesSource(runtime: VectorsyncRuntime, location: string): Promise<void> {
  const collection = runtime.collection('products');
  const indexed = await runtime.db.query<{ id: string; content_hash: string; payload: unknown }>(
    `SELECT id::text AS id, content_hash, payload FROM vectorsync."${location}"`,
  );
  const sources = await readSourceRows(
    runtime.db,
    collection.definition,
    indexed.rows.map((row) => row.id),
  );
  for (const row of indexed.rows) {
    const source = sources.get(row.id);
    assert.ok(source, `source row ${row.id}`);
    const expected = buildDocument(collection.definition, source, collection.embedder, collection.analyzer);
    assert.equal(row.content_hash, expected.contentHash, `content of ${row.id}`);
    assert.deepEqual(row.payload, expected.payload, `payload of ${row.id}`);
  }
}

interface ApiWriter {
  stats: { writes: number; unexpected: string[] };
  stop(): Promise<ApiWriter['stats']>;
}

/** An application writing through the documents API: creates, replaces, patches and deletes. */
function startApiWriter(app: FastifyInstance, key: string, prefix: string): ApiWriter {
  const stats = { writes: 0, unexpected: [] as string[] };
  const live: string[] = [];
  let serial = 0;
  let running = true;
  const headers = { authorization: `Bearer ${key}` };
  const url = '/v1/collections/products/documents';
  const loop = (async () => {
    while (running) {
      const step = serial % 6;
      let response: Awaited<ReturnType<FastifyInstance['inject']>>;
      let expected: number;
      if (step < 3 || live.length < 5) {
        const id = `${prefix}-${serial}`;
        response = await app.inject({
          method: 'POST',
          url,
          headers,
          payload: { article_id: id, name: `Api item ${serial}`, product_type: 'Scarf', color: 'Teal' },
        });
        expected = 201;
        if (response.statusCode === expected) live.push(id);
      } else if (step === 3) {
        const id = live[serial % live.length]!;
        response = await app.inject({
          method: 'PUT',
          url: `${url}/${id}`,
          headers,
          payload: { name: `Api replaced ${serial}` },
        });
        expected = 200;
      } else if (step === 4) {
        const id = live[serial % live.length]!;
        response = await app.inject({
          method: 'PATCH',
          url: `${url}/${id}`,
          headers,
          payload: { color: `Shade ${serial}` },
        });
        expected = 200;
      } else {
        const [id] = live.splice(serial % live.length, 1);
        response = await app.inject({ method: 'DELETE', url: `${url}/${id}`, headers });
        expected = 204;
      }
      serial++;
      if (response.statusCode === expected) stats.writes++;
      else stats.unexpected.push(`${response.statusCode} ${response.body}`);
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await loop;
      return stats;
    },
  };
}
