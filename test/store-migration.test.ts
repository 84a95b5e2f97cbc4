import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listIndexes } from '../src/index-versions/index-catalog.js';
import { migrationState, rollbackToStandby } from '../src/index-versions/migration-lifecycle.js';
import { migrateStore } from '../src/index-versions/store-migration.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { ID_BUCKETS } from '../src/stores/id-bucket.js';
import type { StoredRecordMeta } from '../src/stores/vector-store.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** Every live record of an index, through the store's scan. */
async function scanAll(runtime: VectorsyncRuntime, location: string): Promise<Map<string, StoredRecordMeta>> {
  const target = runtime.collection('products').targets.find((t) => t.record.location === location);
  assert.ok(target, `index ${location} is live`);
  const records = new Map<string, StoredRecordMeta>();
  let cursor: string | undefined;
  do {
    const page = await target.store.scan(target.spec, {
      bucketFrom: 0,
      bucketTo: ID_BUCKETS - 1,
      limit: 500,
      ...(cursor ? { cursor } : {}),
    });
    for (const record of page.records) records.set(record.id, record);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return records;
}

async function assertScanMatchesSource(testDb: TestDatabase, records: Map<string, StoredRecordMeta>) {
  const source = await testDb.db.query<{ article_id: string; tenant_id: string; version: string }>(
    'SELECT article_id, tenant_id, version::text AS version FROM products',
  );
  const problems: string[] = [];
  for (const row of source.rows) {
    const record = records.get(row.article_id);
    if (!record) problems.push(`missing ${row.article_id}`);
    else if (record.version !== Number(row.version) || record.tenant !== row.tenant_id)
      problems.push(`stale ${row.article_id}: index v${record.version} source v${row.version}`);
  }
  if (records.size !== source.rows.length)
    problems.push(`index holds ${records.size}, source ${source.rows.length}`);
  assert.deepEqual(problems.slice(0, 10), []);
}

describe('migrating a collection from pgvector to LanceDB under continuous writes', () => {
  let testDb: TestDatabase;
  let dataDir: string;
  let serving: VectorsyncRuntime;
  let operator: VectorsyncRuntime;
  let workers: SyncWorkers;

  before(async () => {
    testDb = await createTestDatabase('store_migration');
    dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-migration-'));
    await createProductsTable(testDb.db);
    const config = productsConfig(testDb, {
      stores: { main: { provider: 'pgvector' }, lance: { provider: 'lancedb', dataDir } },
      sync: { ...fastSync, indexRefreshMs: 100 },
    });
    // The service: sync workers (with their index watcher) and searches.
    serving = await openProductsRuntime(testDb, { config });
    workers = new SyncWorkers(serving, silentLogger, { sync: { ...fastSync, concurrency: 2 } });
    await workers.start();
    // The operator's CLI process, on its own pool.
    operator = await openProductsRuntime(testDb, { config, setup: false });
    await insertProducts(testDb.db, 'acme', products(240, 61));
    await insertProducts(
      testDb.db,
      'globex',
      products(120, 62).map((p) => ({ ...p, article_id: `g${p.article_id}` })),
    );
    await waitFor(() => outboxDrained(testDb.db), { message: 'the initial rows to sync' });
  });
  after(async () => {
    await workers.stop();
    await operator.close();
    await serving.close();
    await testDb.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('aborting during the fill leaves no half-built index behind', async () => {
    const controller = new AbortController();
    const before = await listIndexes(operator.db, 'products');
    await assert.rejects(
      migrateStore(operator, {
        collection: 'products',
        to: 'lance',
        pageSize: 20,
        signal: controller.signal,
        onProgress: (stage) => {
          if (stage === 'fill') controller.abort();
        },
      }),
      (error: { code?: string }) => error.code === 'ABORTED',
    );
    const afterAbort = await listIndexes(operator.db, 'products');
    const added = afterAbort.filter((record) => !before.some((old) => old.id === record.id));
    assert.equal(added.length, 1);
    assert.equal(added[0]!.state, 'retired', 'the aborted index is retired, so no writer writes it');
    const state = await migrationState(operator, 'products');
    assert.deepEqual(
      state.building.map((record) => record.id),
      [],
    );
  });
  it('builds from Postgres, verifies, cuts over atomically with search answering throughout, and both stay in sync', async () => {
    const oldLocation = serving.activeTarget('products').record.location;
    let writing = true;
    let written = 0;
    const writer = (async () => {
      const fresh = products(400, 63);
      for (let i = 0; writing; i++) {
        const item = fresh[i % fresh.length]!;
        if (i < fresh.length)
          await insertProducts(testDb.db, 'acme', [{ ...item, article_id: `w${item.article_id}` }]);
        await testDb.db.query(
          `UPDATE products SET price = price + 1 WHERE article_id IN (SELECT article_id FROM products ORDER BY md5(article_id || $1::text) LIMIT 3)`,
          [String(i)],
        );
        if (i % 7 === 0)
          await testDb.db.query(
            `DELETE FROM products WHERE article_id IN (SELECT article_id FROM products WHERE tenant_id = 'globex' ORDER BY md5(article_id || $1::text) LIMIT 1)`,
            [String(i)],
          );
        written++;
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    let searching = true;
    const servedBy = new Set<string>();
    const searchErrors: string[] = [];
    let searches = 0;
    const search = new SearchService(serving);
    const searcher = (async () => {
      while (searching) {
        const store = serving.activeTarget('products').storeName;
        try {
          const response = await search.search({
            collection: 'products',
            tenant: 'acme',
            query: 'black jacket',
            mode: 'hybrid',
            k: 10,
          });
          if (response.hits.length === 0) searchErrors.push(`no hits from ${store}`);
          servedBy.add(store);
        } catch (error) {
          searchErrors.push(`${store}: ${(error as Error).message}`);
        }
        searches++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const stages: string[] = [];
    let report: Awaited<ReturnType<typeof migrateStore>>;
    try {
      report = await migrateStore(operator, {
        collection: 'products',
        to: 'lance',
        pageSize: 50,
        queries: 20,
        onStage: (stage) => stages.push(stage),
      });
    } finally {
      await waitFor(() => servedBy.has('lance'), { message: 'searches to be served by the new store' }).catch(
        () => undefined,
      );
      writing = false;
      await writer;
      searching = false;
      await searcher;
    }

    assert.equal(
      report.verified,
      true,
      `verification problems: ${report.problems.join('; ')} ${JSON.stringify(report.shadow)}`,
    );
    assert.deepEqual(stages, ['prepare', 'handshake', 'fill', 'settle', 'verify', 'shadow', 'cutover']);
    assert.ok(written > 10, `writes continued during the migration (${written})`);
    assert.equal(report.cutover, true);
    assert.equal(report.fill.failed, 0);
    assert.deepEqual(report.completeness.discrepancies, []);
    const semantic = report.shadow.find((mode) => mode.mode === 'semantic')!;
    assert.ok(semantic.overlap! >= 0.8, `semantic overlap@10 ${semantic.overlap}`);
    assert.equal(report.shadow.length, 3);
    assert.deepEqual(searchErrors, [], 'search answered throughout');
    assert.ok(searches > 10);
    assert.deepEqual(
      [...servedBy].sort(),
      ['lance', 'main'],
      'searches moved from the old store to the new one',
    );

    // Both indexes are kept in sync: the new active one and the old one (the standby).
    await waitFor(() => outboxDrained(testDb.db), { message: 'sync to drain after the writes stopped' });
    await serving.refreshIndexes();
    const state = await migrationState(serving, 'products');
    assert.equal(state.active.store, 'lance');
    assert.equal(state.standby?.location, oldLocation);
    assert.equal(state.configMatches, false, 'the config change is the operator’s last step');
    await assertIndexMatchesSource(testDb.db, oldLocation);
    await assertScanMatchesSource(testDb, await scanAll(serving, state.active.location));

    // setup refuses the stale config and says how to finish.
    await assert.rejects(setupCollections(operator), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.match(error.message, /served by store "lance" but the config names "main"/);
      return true;
    });

    // Rollback is the same swap in the other direction; the LanceDB index stays in sync as the standby.
    const rolledBack = await rollbackToStandby(operator, 'products');
    assert.equal(rolledBack.active.location, oldLocation);
    assert.equal(rolledBack.standby?.store, 'lance');
    assert.equal(rolledBack.configMatches, true);
    await insertProducts(
      testDb.db,
      'acme',
      products(5, 64).map((p) => ({ ...p, article_id: `r${p.article_id}` })),
    );
    await waitFor(() => outboxDrained(testDb.db), { message: 'the post-rollback writes to sync' });
    await serving.refreshIndexes();
    await assertIndexMatchesSource(testDb.db, oldLocation);
    await assertScanMatchesSource(testDb, await scanAll(serving, rolledBack.standby!.location));
  });
});
