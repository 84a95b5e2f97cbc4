import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEventBus } from '../src/bus/create-event-bus.js';
import type { EventBus } from '../src/bus/event-bus.js';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { listIndexes } from '../src/index-versions/index-catalog.js';
import { replayIndex } from '../src/index-versions/replay-version.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { RawJetStream, testBusConfig } from './helpers/bus-fixture.js';
import { runCli } from './helpers/cli-process.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import {
  assertIndexMatchesSource,
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

describe('replay: rebuilding an index from the event stream', () => {
  let testDb: TestDatabase;
  let config: ResolvedConfig;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let bus: EventBus;
  let raw: RawJetStream;
  const subject = () => `${config.bus!.subjectPrefix}.products`;
  const activeLocation = async () => {
    await runtime.refreshIndexes();
    return runtime.activeTarget('products').record.location;
  };
  const synced = async () => {
    const location = await activeLocation();
    await waitFor(() => indexMatchesSource(testDb.db, location), {
      message: async () =>
        `index ${location} to match the source (${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)})`,
    });
    return location;
  };
  const tableExists = async (location: string) =>
    (
      await testDb.db.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
        `vectorsync."${location}"`,
      ])
    ).rows[0]!.found;

  before(async () => {
    testDb = await createTestDatabase('bus_replay');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(40, 1));
    // Writers reload their live indexes well within the worker timeout, so a replay's wait for
    // them is short and never skips one.
    config = productsConfigWith(testDb, {
      mode: 'outbox',
      bus: testBusConfig(testDb),
      sync: { indexRefreshMs: 100 },
    });
    runtime = await openProductsRuntime(testDb, { config });
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
    bus = createEventBus(runtime.config, runtime.logger)!;
    raw = await RawJetStream.connect(config.bus!.url, config.bus!.stream);
    await synced();

    // A history the replay must apply in order: repeated updates, deletes, a delete followed by
    // a re-insert of the same id, tenant moves and late inserts.
    const ids = (
      await testDb.db.query<{ id: string }>('SELECT article_id AS id FROM products ORDER BY 1')
    ).rows.map((row) => row.id);
    for (let round = 0; round < 3; round++)
      await testDb.db.query(`UPDATE products SET name = name || ' v${round}' WHERE article_id = ANY($1)`, [
        ids.slice(0, 10),
      ]);
    await testDb.db.query('DELETE FROM products WHERE article_id = ANY($1)', [ids.slice(10, 15)]);
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [ids[15]]);
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type) VALUES ($1, 'globex', 'Reborn linen shirt', 'back in the catalogue', 'Shirt')`,
      [ids[15]],
    );
    await testDb.db.query(`UPDATE products SET tenant_id = 'initech' WHERE article_id = ANY($1)`, [
      ids.slice(16, 18),
    ]);
    await insertProducts(testDb.db, 'globex', products(10, 2));
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [ids[0]]);
    await synced();
  });

  after(async () => {
    await workers.stop();
    await bus.close();
    await raw.deleteStream();
    await raw.close();
    await runtime.close();
    await testDb.drop();
  });

  it('`vectorsync replay -c products` builds an identical new index version, activates it and drops the old one', async () => {
    const oldLocation = await synced();
    const expected = await indexRows(testDb.db, oldLocation);
    assert.equal(expected.size, 44);
    const stream = await raw.streamInfo();
    const ops = new Set((await raw.events(subject())).map((event) => event.op));
    assert.deepEqual([...ops].sort(), ['delete', 'upsert'], 'the history holds updates and deletes');

    const result = await runCli(config, ['replay', '-c', 'products']);
    assert.equal(result.code, 0, result.output);
    assert.match(result.stdout, new RegExp(`\\b${stream.messages}\\b`), 'every stored event was replayed');

    const newLocation = await activeLocation();
    assert.notEqual(newLocation, oldLocation, 'a new index version serves searches');
    assert.equal(await tableExists(oldLocation), false, 'the previous index was dropped');
    const indexes = await listIndexes(testDb.db, 'products');
    assert.deepEqual(
      indexes.map((index) => [index.location, index.state]),
      [
        [oldLocation, 'retired'],
        [newLocation, 'active'],
      ],
    );
    // Same ids, tenants, versions and content hashes as the index the live consumer built.
    assert.deepEqual(await indexRows(testDb.db, newLocation), expected);
    await assertIndexMatchesSource(testDb.db, newLocation);

    // The running workers switched over: new changes reach the new index.
    await insertProducts(testDb.db, 'acme', products(3, 3));
    await testDb.db.query(`UPDATE products SET description = 'after the replay' WHERE tenant_id = 'initech'`);
    assert.equal(await synced(), newLocation);
  });

  it('changes made while the replay runs are not missed', async () => {
    const oldLocation = await synced();
    // Writes go on while the replay reads the stream; they are not in the replayed range, so
    // only the live consumer (writing every live index, the new one included) can bring them.
    // The writer stops half-way through, so that the verification against the source, after
    // the live consumer caught up, compares a settled state.
    const writer = startContinuousWriter(testDb.db, { seed: 3, pauseMs: 10, prefix: 'during' });
    let duringReplay: { inserts: number; deletes: number } | undefined;
    let result: Awaited<ReturnType<typeof replayIndex>>;
    try {
      await waitFor(() => writer.stats.inserts > 5);
      result = await replayIndex(runtime, bus, runtime.logger, {
        collection: 'products',
        batchSize: 10,
        onProgress: (replayed, total) => {
          duringReplay ??= { inserts: writer.stats.inserts, deletes: writer.stats.deletes };
          if (replayed >= total / 2) void writer.stop();
        },
      });
    } finally {
      await writer.stop();
    }
    assert.ok(duringReplay, 'the replay reported progress');
    assert.ok(writer.stats.inserts > duringReplay.inserts, 'rows were inserted while the replay ran');
    assert.equal(result.activated, true);
    assert.deepEqual(
      result.retired.map((index) => index.location),
      [oldLocation],
    );
    // At its final count the replayed index held as many records as the source or as the active
    // index (activated says so): both receive the same live writes, which may still be in flight
    // on a loaded machine, so then the source can differ from both. What proves nothing was
    // missed is that the new index, now active, reaches the source once those writes land: the
    // ones made during the replay are not in the replayed range, only the live consumer brings them.
    assert.equal(await synced(), result.index.location);
    assert.equal(await tableExists(oldLocation), false);
  });

  it('discards the new index when the stream misses a row, keeping the current one', async () => {
    const location = await synced();
    // A row whose only event is its backfill: without that message the replay cannot know the row.
    const events = await raw.events(subject());
    const once = events.filter(
      (event) => event.origin === 'backfill' && events.filter((other) => other.id === event.id).length === 1,
    );
    const lost = once.find((event) => event.sequence > 1)!;
    assert.ok(lost, 'a row that never changed after the backfill');
    await raw.deleteMessage(lost.sequence);

    await assert.rejects(
      replayIndex(runtime, bus, runtime.logger, { collection: 'products' }),
      (error: unknown) =>
        // The verification against the source finds the row the stream does not know.
        isVectorsyncError(error, ErrorCode.MigrationNotVerified) &&
        /new version differs from the source: 1 missing/.test(error.message),
    );
    assert.equal(await activeLocation(), location, 'the current index keeps serving');
    const live = (await listIndexes(testDb.db, 'products')).filter((index) => index.state !== 'retired');
    assert.deepEqual(
      live.map((index) => index.location),
      [location],
      'the abandoned index is retired',
    );
    const abandoned = (await listIndexes(testDb.db, 'products')).at(-1)!;
    assert.equal(abandoned.state, 'retired');
    assert.equal(await tableExists(abandoned.location), false, 'and dropped');
  });

  it('refuses to change the embedding model: that is `reembed`, which keeps the old version', async () => {
    const before = await listIndexes(testDb.db, 'products');
    const otherModel = await openProductsRuntime(testDb, {
      config: productsConfigWith(testDb, {
        mode: 'outbox',
        bus: testBusConfig(testDb),
        sync: { indexRefreshMs: 100 },
        dimensions: 48,
      }),
      setup: false,
    });
    try {
      await assert.rejects(
        replayIndex(otherModel, bus, otherModel.logger, { collection: 'products' }),
        (error: unknown) =>
          isVectorsyncError(error, ErrorCode.EmbedderMismatch) && /reembed/.test(error.message),
      );
    } finally {
      await otherModel.close();
    }
    assert.deepEqual(await listIndexes(testDb.db, 'products'), before, 'no index was created');
  });

  it('refuses to replay a stream that lost its beginning', async () => {
    const location = await synced();
    const before = await listIndexes(testDb.db, 'products');
    await raw.purge();
    await assert.rejects(
      replayIndex(runtime, bus, runtime.logger, { collection: 'products' }),
      (error: unknown) =>
        isVectorsyncError(error, ErrorCode.InvalidRequest) && /first sequence/.test(error.message),
    );
    assert.equal(await activeLocation(), location);
    assert.deepEqual(await listIndexes(testDb.db, 'products'), before, 'no index was created');
  });
});
