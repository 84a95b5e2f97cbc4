import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SyncConfig } from '../src/config/config-schema.js';
import { ErrorCode } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { Applier } from '../src/sync/applier.js';
import type { ChangeEvent, EventOutcome } from '../src/sync/change-event.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  type DocumentHookData,
  documentWorkerHooksModule,
  hookControl,
} from './helpers/document-worker-hooks.js';
import {
  createProductsTable,
  indexRows,
  insertProducts,
  products,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** The demo collection with the test hooks loaded into its document worker threads. */
async function openHookedRuntime(
  testDb: TestDatabase,
  sync: Partial<SyncConfig>,
  hooks: Omit<DocumentHookData, 'control'>,
): Promise<VectorsyncRuntime> {
  const runtime = await VectorsyncRuntime.open({
    config: productsConfig(testDb, { sync }),
    db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
    documentPool: {
      workerHooks: { module: documentWorkerHooksModule, data: { control: hookControl().buffer, ...hooks } },
    },
  });
  await setupCollections(runtime);
  return runtime;
}

function upserts(ids: readonly string[], tag: string): ChangeEvent[] {
  return ids.map((id) => ({
    eventId: `${tag}:${id}`,
    collection: 'products',
    tenant: 'acme',
    sourceId: id,
    op: 'upsert',
    sourceVersion: null,
  }));
}

async function insertNamed(testDb: TestDatabase, ids: readonly string[], seed: number): Promise<void> {
  const items = products(ids.length, seed).map((item, index) => ({ ...item, article_id: ids[index]! }));
  await insertProducts(testDb.db, 'acme', items);
}

function failed(outcome: EventOutcome | undefined): Extract<EventOutcome, { status: 'failed' }> {
  assert.equal(outcome?.status, 'failed', `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome as Extract<EventOutcome, { status: 'failed' }>;
}

async function outboxEvent(testDb: TestDatabase, id: string) {
  const result = await testDb.db.query<{
    status: string;
    attempts: number;
    last_error: string | null;
    last_error_code: string | null;
  }>(
    'SELECT status, attempts, last_error, last_error_code FROM vectorsync.outbox WHERE source_id = $1 ORDER BY id DESC LIMIT 1',
    [id],
  );
  return result.rows[0];
}

describe('document budget: a document whose build never ends fails alone', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker | undefined;
  let location: string;
  const budgetMs = 1000;

  before(async () => {
    testDb = await createTestDatabase('pool_budget');
    await createProductsTable(testDb.db);
    // The hook blocks these rows' builds forever: only the budget can end them, whatever the machine's speed.
    runtime = await openHookedRuntime(
      testDb,
      { documentBudgetMs: budgetMs, cpuThreads: 2 },
      { hang: ['poison-1', 'poison-2'] },
    );
    location = runtime.activeTarget('products').record.location;
  });

  after(async () => {
    await worker?.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('fails that row with DOCUMENT_BUDGET_EXCEEDED (naming collection and id) and applies its batch-mates', async () => {
    const good = ['good-1', 'good-2', 'good-3', 'good-4', 'good-5'];
    await insertNamed(testDb, [...good.slice(0, 2), 'poison-1', ...good.slice(2)], 41);
    const applier = new Applier(runtime, silentLogger);
    const { outcomes, stats } = await applier.apply(upserts([...good, 'poison-1'], 'direct'));

    const poison = failed(outcomes.get('direct:poison-1'));
    assert.equal(poison.code, ErrorCode.DocumentBudgetExceeded);
    assert.equal(poison.transient, false, 'counted as an attempt, so the event can end failed');
    assert.match(poison.error.message, /document poison-1 of collection "products"/);
    assert.match(poison.error.message, new RegExp(`budget of ${budgetMs} ms`));
    for (const id of good) assert.equal(outcomes.get(`direct:${id}`)?.status, 'applied', id);
    assert.equal(stats.upserts, good.length);
    const rows = await indexRows(testDb.db, location);
    for (const id of good) assert.ok(rows.has(id), `${id} is indexed`);
    assert.ok(!rows.has('poison-1'));
    // Its captured events are for the outbox worker below: as a delete, it needs no build.
    await testDb.db.query(`DELETE FROM products WHERE article_id = 'poison-1'`);
  });

  it('ends the event failed after maxAttempts, visible in status, and the worker goes on', async () => {
    worker = new OutboxWorker({ runtime });
    const failedEvents: string[] = [];
    worker.on('failed', ({ ids }) => failedEvents.push(...ids));
    await worker.start();
    await insertNamed(testDb, ['mate-1', 'poison-2', 'mate-2'], 42);

    const event = await waitFor(
      async () => {
        const row = await outboxEvent(testDb, 'poison-2');
        return row?.status === 'failed' ? row : undefined;
      },
      // Each attempt replaces a worker thread, which under tsx on a loaded machine takes a while.
      { timeoutMs: 180_000, message: 'the poison event to end failed' },
    );
    assert.equal(event.last_error_code, ErrorCode.DocumentBudgetExceeded);
    assert.equal(event.attempts, runtime.config.sync.maxAttempts);
    assert.match(event.last_error!, /document poison-2 of collection "products"/);
    assert.ok(failedEvents.length > 0);

    await waitFor(
      async () => {
        const rows = await indexRows(testDb.db, location);
        return rows.has('mate-1') && rows.has('mate-2');
      },
      { message: 'the batch-mates to be indexed' },
    );
    const status = await readSyncStatus(runtime);
    const products = status.collections.find((entry) => entry.collection === 'products')!;
    assert.ok(products.failed >= 1, 'the failed event is counted in status');
    assert.equal(products.lastError?.code, ErrorCode.DocumentBudgetExceeded);

    // Not claimed again, and the worker keeps applying new changes.
    await insertNamed(testDb, ['after-1'], 43);
    await waitFor(async () => (await indexRows(testDb.db, location)).has('after-1'), {
      message: 'a later change to be applied',
    });
    assert.equal((await outboxEvent(testDb, 'poison-2'))?.status, 'failed');
    assert.equal((await outboxEvent(testDb, 'poison-2'))?.attempts, runtime.config.sync.maxAttempts);
  });
});

describe('document worker memory limit: a document that exhausts its thread fails alone', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('pool_memory');
    await createProductsTable(testDb.db);
    // A long budget: the thread must die of its memory limit, not of the clock.
    runtime = await openHookedRuntime(
      testDb,
      { documentBudgetMs: 300_000, cpuThreads: 1, cpuThreadMemoryMb: 128 },
      { exhaustMemory: ['bomb-1'] },
    );
    location = runtime.activeTarget('products').record.location;
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('fails that row with DOCUMENT_WORKER_DIED, applies the others, and the next batch runs', async () => {
    assert.equal(runtime.documents.started, false, 'no worker threads before a batch needs them');
    const good = ['calm-1', 'calm-2', 'calm-3'];
    await insertNamed(testDb, ['bomb-1', ...good], 51);
    const applier = new Applier(runtime, silentLogger);
    const { outcomes } = await applier.apply(upserts(['bomb-1', ...good], 'first'));

    assert.equal(runtime.documents.started, true);
    const bomb = failed(outcomes.get('first:bomb-1'));
    assert.equal(bomb.code, ErrorCode.DocumentWorkerDied);
    assert.equal(bomb.transient, false);
    assert.match(bomb.error.message, /document bomb-1 of collection "products" died: .*memory/);
    assert.match(bomb.error.message, /sync\.cpuThreadMemoryMb is 128/);
    for (const id of good) assert.equal(outcomes.get(`first:${id}`)?.status, 'applied', id);

    // The process is alive and the pool has a fresh thread.
    await insertNamed(testDb, ['calm-4'], 52);
    const next = await applier.apply(upserts(['calm-4'], 'second'));
    assert.equal(next.outcomes.get('second:calm-4')?.status, 'applied');
    const rows = await indexRows(testDb.db, location);
    for (const id of [...good, 'calm-4']) assert.ok(rows.has(id), `${id} is indexed`);
  });
});

describe('document worker threads that cannot start', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('pool_broken');
    await createProductsTable(testDb.db);
    runtime = await VectorsyncRuntime.open({
      config: productsConfig(testDb),
      db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
      documentPool: {
        workerHooks: { module: fileURLToPath(new URL('./helpers/broken-worker-hooks.ts', import.meta.url)) },
      },
    });
    await setupCollections(runtime);
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('fail the batch with DOCUMENT_POOL_UNAVAILABLE, transient (the collection pauses and retries), without hanging', async () => {
    await insertNamed(testDb, ['lonely-1', 'lonely-2'], 61);
    const { outcomes } = await new Applier(runtime, silentLogger).apply(
      upserts(['lonely-1', 'lonely-2'], 'x'),
    );
    for (const id of ['lonely-1', 'lonely-2']) {
      const outcome = failed(outcomes.get(`x:${id}`));
      assert.equal(outcome.code, ErrorCode.DocumentPoolUnavailable);
      assert.equal(outcome.transient, true);
      assert.match(outcome.error.message, /this hooks module is broken on purpose/);
    }
  });
});
