import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { RawJetStream, testBusConfig } from './helpers/bus-fixture.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('CDC + event bus: the replication stream is published to JetStream and applied from it', () => {
  let testDb: TestDatabase;
  let config: ResolvedConfig;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let raw: RawJetStream;
  let location: string;
  const synced = () =>
    waitFor(() => indexMatchesSource(testDb.db, location), {
      message: async () =>
        `index to match the source (${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)})`,
    });

  before(async () => {
    testDb = await createTestDatabase('bus_cdc');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(20, 1));
    config = productsConfigWith(testDb, { mode: 'cdc', bus: testBusConfig(testDb) });
    runtime = await openProductsRuntime(testDb, { config });
    location = runtime.activeTarget('products').record.location;
    raw = await RawJetStream.connect(config.bus!.url, config.bus!.stream);
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
  });

  after(async () => {
    await workers.stop();
    await raw.deleteStream();
    await raw.close();
    await runtime.close();
    await testDb.drop();
  });

  it('direct SQL writes travel slot → bus → index', async () => {
    await synced();
    const batch = products(15, 2);
    await insertProducts(testDb.db, 'globex', batch);
    await testDb.db.query(`UPDATE products SET name = 'Corduroy jacket' WHERE article_id = $1`, [
      batch[0]!.article_id,
    ]);
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [batch[1]!.article_id]);
    await testDb.db.query(`UPDATE products SET tenant_id = 'initech' WHERE article_id = $1`, [
      batch[2]!.article_id,
    ]);
    await synced();

    const events = await raw.events(`${config.bus!.subjectPrefix}.products`);
    const fromCdc = events.filter((event) => event.origin === 'cdc');
    for (const item of batch)
      assert.ok(
        fromCdc.some((event) => event.id === item.article_id),
        `the insert of ${item.article_id} was published by the CDC consumer`,
      );
    assert.ok(fromCdc.some((event) => event.id === batch[1]!.article_id && event.op === 'delete'));
    assert.ok(
      events.filter((event) => event.origin === 'backfill').length >= 20,
      'rows that existed before setup were published as backfill',
    );
    const captured = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE origin <> 'backfill'`,
    );
    assert.equal(captured.rows[0]!.n, 0, 'nothing went through the outbox');
  });
});
