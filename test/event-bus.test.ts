import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEventBus } from '../src/bus/create-event-bus.js';
import type { BusEvent, EventBus } from '../src/bus/event-bus.js';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { type BusBatchReport, BusConsumer } from '../src/sync/bus-consumer.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { RawJetStream, testBusConfig } from './helpers/bus-fixture.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('event bus (NATS JetStream): outbox capture published to the bus, applied by the bus consumer', () => {
  let testDb: TestDatabase;
  let config: ResolvedConfig;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let bus: EventBus;
  let consumer: BusConsumer | undefined;
  let raw: RawJetStream;
  let location: string;
  const subject = () => `${config.bus!.subjectPrefix}.products`;
  const applyDurable = () => `${config.bus!.consumer}_products`;
  const batches: BusBatchReport[] = [];
  const synced = () =>
    waitFor(() => indexMatchesSource(testDb.db, location), {
      message: async () =>
        `index to match the source (${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)})`,
    });

  before(async () => {
    testDb = await createTestDatabase('event_bus');
    await createProductsTable(testDb.db);
    // Rows that exist before setup reach the stream as backfill events.
    await insertProducts(testDb.db, 'acme', products(30, 1));
    config = productsConfigWith(testDb, { mode: 'outbox', bus: testBusConfig(testDb) });
    runtime = await openProductsRuntime(testDb, { config });
    location = runtime.activeTarget('products').record.location;
    raw = await RawJetStream.connect(config.bus!.url, config.bus!.stream);
    // The outbox workers publish; the bus consumer is started by the test below.
    workers = new SyncWorkers(runtime, runtime.logger, { busConsumer: false });
    await workers.start();
    bus = createEventBus(runtime.config, runtime.logger)!;
  });

  after(async () => {
    await consumer?.stop();
    await workers.stop();
    await bus.close();
    await raw.deleteStream();
    await raw.close();
    await runtime.close();
    await testDb.drop();
  });

  it('publishes every captured change to the stream; nothing reaches the index without a bus consumer', async () => {
    const batch = products(20, 2);
    await insertProducts(testDb.db, 'globex', batch);
    await testDb.db.query(`UPDATE products SET name = name || ' (sale)' WHERE article_id = $1`, [
      batch[0]!.article_id,
    ]);
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [batch[1]!.article_id]);
    await testDb.db.query(`UPDATE products SET tenant_id = 'initech' WHERE article_id = $1`, [
      batch[2]!.article_id,
    ]);
    await waitFor(() => outboxDrained(testDb.db), { message: 'the outbox workers to publish everything' });

    assert.equal((await indexRows(testDb.db, location)).size, 0, 'the outbox workers did not apply');
    const events = await raw.events(subject());
    const outbox = await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM vectorsync.outbox');
    assert.equal(events.length, outbox.rows[0]!.n, 'one stream message per outbox event');
    const ids = new Set(events.map((event) => event.id));
    const source = await testDb.db.query<{ id: string }>('SELECT article_id AS id FROM products');
    for (const row of source.rows) assert.ok(ids.has(row.id), `an event for ${row.id} was published`);
    assert.ok(
      events.some((event) => event.id === batch[1]!.article_id && event.op === 'delete'),
      'the delete was published as a delete',
    );
    assert.ok(events.some((event) => event.origin === 'backfill'));
    assert.ok(events.every((event) => event.collection === 'products' && event.capturedAt.length > 0));
    // What a build's settle step waits on: no apply consumer yet, so nothing is applied.
    const position = await bus.consumerPosition({ consumer: config.bus!.consumer, collection: 'products' });
    assert.deepEqual(position, {
      lastSequence: Math.max(...events.map((event) => event.sequence)),
      ackedThrough: 0,
      caughtUp: false,
    });
  });

  it('the bus consumer applies the stream: the index equals the source', async () => {
    consumer = new BusConsumer({ runtime, bus });
    consumer.on('batch', (report) => batches.push(report));
    await consumer.start();
    await consumer.ready();
    await synced();
    const rows = await indexRows(testDb.db, location);
    assert.equal(rows.size, 49);
    assert.ok(
      [...rows.values()].some((row) => row.tenant === 'initech'),
      'the tenant move was applied',
    );
    // The index can match before the batch's acknowledgements (awaited after the apply) are in.
    const messages = (await raw.streamInfo()).messages;
    const acked = () => batches.reduce((sum, report) => sum + report.acked, 0);
    await waitFor(() => acked() >= messages, {
      message: () => `every message acknowledged after apply (${acked()} of ${messages})`,
    });
    assert.equal(acked(), messages, 'every message was acknowledged after apply, once');
    assert.ok(batches.every((report) => report.failed === 0 && report.redelivered === 0));

    // Live changes flow through while the consumer runs.
    await insertProducts(testDb.db, 'acme', products(5, 3));
    await testDb.db.query(`UPDATE products SET description = 'restocked' WHERE tenant_id = 'globex'`);
    await testDb.db.query(
      `DELETE FROM products WHERE article_id IN (SELECT article_id FROM products LIMIT 3)`,
    );
    await synced();
    const info = await raw.consumerInfo(applyDurable());
    assert.equal(info.num_pending, 0);
    assert.equal(info.num_ack_pending, 0);
    const position = await bus.consumerPosition({ consumer: config.bus!.consumer, collection: 'products' });
    assert.equal(position.caughtUp, true);
    assert.equal(position.ackedThrough, position.lastSequence, JSON.stringify(position));
  });

  it('fans out: an independent durable consumer receives every event, and acknowledgements stay per consumer', async () => {
    const stream = await raw.streamInfo();
    const before = await raw.consumerInfo(applyDurable());
    assert.equal(before.ack_floor.stream_seq, stream.lastSequence, 'the apply consumer acknowledged all');

    // Another team's consumer, created after the fact, still gets the whole history.
    await raw.addDurable('audit', subject());
    const received = await raw.fetch('audit', stream.messages + 10);
    assert.equal(
      received.length,
      stream.messages,
      'every stored event, although the apply consumer acked them',
    );
    assert.deepEqual(
      received.map(({ message }) => message.seq),
      Array.from({ length: stream.messages }, (_, i) => stream.firstSequence + i),
      'in stream order',
    );
    const audit = await raw.consumerInfo('audit');
    assert.equal(audit.num_ack_pending, stream.messages, 'nothing acknowledged by the audit consumer yet');

    // The audit consumer holding everything unacknowledged does not hold back the apply consumer.
    await insertProducts(testDb.db, 'globex', products(4, 4));
    await synced();
    const applyAfter = await raw.consumerInfo(applyDurable());
    assert.equal(applyAfter.num_ack_pending, 0);
    assert.equal(applyAfter.ack_floor.stream_seq, (await raw.streamInfo()).lastSequence);

    // Acknowledging in the audit consumer changes nothing for the apply consumer, and vice versa.
    for (const { message } of received) await message.ackAck();
    const auditAcked = await raw.consumerInfo('audit');
    assert.equal(auditAcked.ack_floor.stream_seq, stream.lastSequence);
    assert.equal(auditAcked.num_pending, 4, 'the new events wait for the audit consumer');
    assert.deepEqual(
      (await raw.consumerInfo(applyDurable())).ack_floor,
      applyAfter.ack_floor,
      "the apply consumer's position is untouched",
    );
    const rest = await raw.fetch('audit', 10);
    assert.deepEqual(
      rest.map(({ event }) => event.op),
      ['upsert', 'upsert', 'upsert', 'upsert'],
    );
    for (const { message } of rest) await message.ackAck();
  });

  it('a second NatsEventBus consumer name gets every event too (EventBus.consume is per durable name)', async () => {
    const stream = await raw.streamInfo();
    const seen: BusEvent[] = [];
    const subscription = await bus.consume(
      { consumer: 'search-analytics', collections: ['products'], batchSize: 25 },
      async (messages) => {
        for (const message of messages) {
          seen.push(message.event);
          await message.ack();
        }
      },
    );
    try {
      await waitFor(() => seen.length >= stream.messages, {
        message: () => `the second consumer to receive ${stream.messages} events (got ${seen.length})`,
      });
    } finally {
      await subscription.stop();
    }
    assert.equal(seen.length, stream.messages, 'each event exactly once to this consumer');
    const second = await raw.consumerInfo('search-analytics_products');
    assert.equal(second.ack_floor.stream_seq, stream.lastSequence);
    assert.equal((await raw.consumerInfo(applyDurable())).num_ack_pending, 0);
    await synced();
  });
});
