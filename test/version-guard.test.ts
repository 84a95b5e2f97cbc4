import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import type { EmbeddedDocument } from '../src/pipeline/index-document.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import type { PgvectorStoreConfig } from '../src/stores/pgvector/pgvector-config.js';
import { PgvectorStore } from '../src/stores/pgvector/pgvector-store.js';
import { Applier } from '../src/sync/applier.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  fastSync,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

function doc(id: string, version: number, text = `text ${version}`): EmbeddedDocument {
  const vector = new Float32Array(8).fill(0);
  vector[version % 8] = 1;
  return {
    collection: 'products',
    tenant: 'acme',
    id,
    version,
    contentHash: `h${version}`,
    text,
    keywords: '',
    terms: {},
    termCount: 0,
    payload: { v: version },
    vector,
  };
}

describe('version guard in the pgvector store (two writers on separate connections)', () => {
  let testDb: TestDatabase;
  let writerA: PgvectorStore;
  let writerB: PgvectorStore;
  const spec = {
    indexId: 900,
    collection: 'products',
    location: 'idx_guard_900',
    dimensions: 8,
    metric: 'cosine' as const,
    payloadFields: [],
    params: {},
  };
  const config = parseConfig(demoConfig()).stores.main as PgvectorStoreConfig;

  before(async () => {
    testDb = await createTestDatabase('version_guard_store');
    // No source foreign key here, so only the version guard and tombstones decide.
    writerA = new PgvectorStore(testDb.connect(), config, {
      sameDatabaseAsSource: false,
      ownsDatabase: true,
    });
    writerB = new PgvectorStore(testDb.connect(), config, {
      sameDatabaseAsSource: false,
      ownsDatabase: true,
    });
    await writerA.ensureIndex(spec);
  });
  after(async () => {
    await writerA.close();
    await writerB.close();
    await testDb.drop();
  });

  const stored = async (id: string) =>
    (
      await testDb.db.query<{ version: string }>(
        `SELECT version::text AS version FROM vectorsync.idx_guard_900 WHERE id = $1`,
        [id],
      )
    ).rows[0]?.version;

  it('never lets an older version overwrite a newer one', async () => {
    assert.deepEqual(await writerB.upsert(spec, [doc('x', 2)]), [{ id: 'x', outcome: 'applied' }]);
    assert.deepEqual(await writerA.upsert(spec, [doc('x', 1)]), [{ id: 'x', outcome: 'skipped_stale' }]);
    assert.equal(await stored('x'), '2');
    assert.deepEqual(
      await writerA.upsert(spec, [doc('x', 2)]),
      [{ id: 'x', outcome: 'skipped_stale' }],
      'a redelivered version writes nothing',
    );
    assert.equal(await stored('x'), '2');
    assert.deepEqual(await writerA.upsert(spec, [doc('x', 3)]), [{ id: 'x', outcome: 'applied' }]);
    assert.equal(await stored('x'), '3');
  });

  it('never lets a late, older upsert undo a delete (tombstone), but lets a newer one re-create', async () => {
    await writerA.upsert(spec, [doc('y', 5)]);
    assert.deepEqual(await writerB.delete(spec, [{ tenant: 'acme', id: 'y', version: 6 }]), [
      { id: 'y', outcome: 'applied' },
    ]);
    assert.deepEqual(await writerA.upsert(spec, [doc('y', 5)]), [{ id: 'y', outcome: 'skipped_stale' }]);
    assert.deepEqual(
      await writerA.upsert(spec, [doc('y', 6)]),
      [{ id: 'y', outcome: 'skipped_stale' }],
      'a delete wins a tie',
    );
    assert.equal(await stored('y'), undefined);
    assert.deepEqual(await writerB.upsert(spec, [doc('y', 7)]), [{ id: 'y', outcome: 'applied' }]);
    assert.equal(await stored('y'), '7');
    const tombstones = await testDb.db.query('SELECT 1 FROM vectorsync.idx_guard_900_tomb WHERE id = $1', [
      'y',
    ]);
    assert.equal(tombstones.rowCount, 0, 'a newer write clears the obsolete tombstone');
  });

  it('ignores a delete older than the stored record, and never deletes another tenant’s record', async () => {
    await writerA.upsert(spec, [doc('z', 9)]);
    assert.deepEqual(await writerB.delete(spec, [{ tenant: 'acme', id: 'z', version: 8 }]), [
      { id: 'z', outcome: 'skipped_stale' },
    ]);
    // (globex, z) does not exist: nothing to remove, and acme's record is untouched.
    await writerB.delete(spec, [{ tenant: 'globex', id: 'z', version: 99 }]);
    assert.equal(await stored('z'), '9');
  });

  it('converges when many writers race on the same ids', async () => {
    const ids = ['r1', 'r2', 'r3'];
    const operations = Array.from({ length: 120 }, (_, index) => ({
      id: ids[index % 3]!,
      version: 100 + index,
      remove: index % 7 === 0,
    }));
    const shuffled = [...operations].sort(() => Math.random() - 0.5);
    await Promise.all(
      shuffled.map((operation, index) => {
        const writer = index % 2 ? writerA : writerB;
        return operation.remove
          ? writer.delete(spec, [{ tenant: 'acme', id: operation.id, version: operation.version }])
          : writer.upsert(spec, [doc(operation.id, operation.version)]);
      }),
    );
    for (const id of ids) {
      const last = operations.filter((operation) => operation.id === id).at(-1)!;
      assert.equal(
        await stored(id),
        last.remove ? undefined : String(last.version),
        `id ${id} ends at its newest operation`,
      );
    }
  });
});

describe('two workers applying the same row out of order', () => {
  let testDb: TestDatabase;
  let runtimeA: VectorsyncRuntime;
  let runtimeB: VectorsyncRuntime;
  const server = new FakeEmbeddingServer({ dimensions: 16 });

  before(async () => {
    testDb = await createTestDatabase('version_guard_workers');
    await createProductsTable(testDb.db);
    const baseUrl = await server.start();
    const config = parseConfig({
      ...demoConfig({
        embedder: {
          provider: 'openai',
          model: 'fake-embedding',
          dimensions: 16,
          baseUrl,
          cache: 'none',
          apiKeyEnv: 'NO_KEY',
        },
      }),
      databaseUrl: testDb.url,
      sync: fastSync,
    });
    runtimeA = await openProductsRuntime(testDb, { config });
    runtimeB = await openProductsRuntime(testDb, { config, setup: false });
  });
  after(async () => {
    await runtimeA.close();
    await runtimeB.close();
    await server.stop();
    await testDb.drop();
  });

  it('keeps the newer version when the worker that read the older row writes last', async () => {
    const location = runtimeA.activeTarget('products').record.location;
    const [item] = products(1, 41);
    await insertProducts(testDb.db, 'acme', [{ ...item!, name: 'Alpha slow-embedding parka' }]);
    const event = (version: number) => ({
      eventId: '1',
      collection: 'products',
      tenant: 'acme',
      sourceId: item!.article_id,
      op: 'upsert' as const,
      sourceVersion: version,
    });
    const v1 = Number(
      (await testDb.db.query<{ version: string }>('SELECT version::text AS version FROM products')).rows[0]!
        .version,
    );

    // Worker A reads the row at v1; its embedding call is slow (a slow embedding API is the
    // everyday cause of reordering).
    server.delayMs = 1500;
    const applierA = new Applier(runtimeA, silentLogger);
    const slowApply = applierA.apply([event(v1)]);
    await waitFor(() => server.requests.length >= 1, { message: 'worker A to be embedding' });
    server.delayMs = 0;

    // Meanwhile the row changes and worker B applies the newer version first.
    await testDb.db.query(`UPDATE products SET name = 'Omega fast parka' WHERE article_id = $1`, [
      item!.article_id,
    ]);
    const v2 = Number(
      (await testDb.db.query<{ version: string }>('SELECT version::text AS version FROM products')).rows[0]!
        .version,
    );
    assert.ok(v2 > v1);
    const fast = await new Applier(runtimeB, silentLogger).apply([event(v2)]);
    assert.equal(fast.stats.upserts, 1);

    const slow = await slowApply;
    assert.equal(slow.stats.skippedStale, 1, 'A’s write of v1 arrived late and was refused');
    assert.deepEqual(slow.outcomes.get('1'), { status: 'skipped' });
    assert.equal((await indexRows(testDb.db, location)).get(item!.article_id)?.version, v2);
    await assertIndexMatchesSource(testDb.db, location);
  });
});

describe('concurrent workers under a random write workload', () => {
  let testDb: TestDatabase;
  let runtimes: VectorsyncRuntime[];
  let workers: OutboxWorker[];
  const applied = new Map<string, number>();

  before(async () => {
    testDb = await createTestDatabase('version_guard_random');
    await createProductsTable(testDb.db);
    const first = await openProductsRuntime(testDb);
    runtimes = [first, await openProductsRuntime(testDb, { setup: false })];
    // Small batches and several loops per worker maximise interleaving.
    workers = runtimes.map(
      (runtime) => new OutboxWorker({ runtime, sync: { ...fastSync, batchSize: 3, concurrency: 3 } }),
    );
    for (const worker of workers) {
      worker.on('batch', (report) => applied.set(worker.id, (applied.get(worker.id) ?? 0) + report.done));
      await worker.start();
    }
  });
  after(async () => {
    for (const worker of workers) await worker.stop();
    for (const runtime of runtimes) await runtime.close();
    await testDb.drop();
  });

  it('converge to exactly the source: inserts, updates, deletes, re-inserts and tenant moves', async () => {
    const location = runtimes[0]!.activeTarget('products').record.location;
    const pool = products(40, 51);
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const writers = Array.from({ length: 4 }, async () => {
      for (let step = 0; step < 100; step++) {
        const item = pool[Math.floor(random() * pool.length)]!;
        const roll = random();
        if (roll < 0.35) {
          await testDb.db.query(
            `INSERT INTO products (article_id, tenant_id, name, description) VALUES ($1, $2, $3, $4)
             ON CONFLICT (article_id) DO UPDATE SET name = EXCLUDED.name`,
            [item.article_id, random() < 0.5 ? 'acme' : 'globex', `${item.name} ${step}`, item.description],
          );
        } else if (roll < 0.7) {
          await testDb.db.query('UPDATE products SET name = $2, price = $3 WHERE article_id = $1', [
            item.article_id,
            `${item.name} v${step}`,
            step,
          ]);
        } else if (roll < 0.85) {
          await testDb.db.query(
            `UPDATE products SET tenant_id = CASE tenant_id WHEN 'acme' THEN 'globex' ELSE 'acme' END WHERE article_id = $1`,
            [item.article_id],
          );
        } else {
          await testDb.db.query('DELETE FROM products WHERE article_id = $1', [item.article_id]);
        }
      }
    });
    await Promise.all(writers);
    await waitFor(() => outboxDrained(testDb.db), { timeoutMs: 60_000, message: 'the workload to drain' });
    await assertIndexMatchesSource(testDb.db, location);
    assert.equal(applied.size, 2, 'both workers took part');
    assert.ok([...applied.values()].every((count) => count > 0));
  });
});
