import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { migrationState, rollbackToStandby } from '../src/index-versions/migration-lifecycle.js';
import { reembed } from '../src/index-versions/reembed.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import { silentLogger } from '../src/logger.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  waitForOutboxDrain,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

const DIMENSIONS = 64;

/**
 * Moving a pgvector collection to halfvec storage is an index change that needs new vectors:
 * the same model, another column type. It goes through the same blue/green lifecycle as a model
 * change (`reembed`), so searches never see a half-converted index, and rollback works.
 */
describe('moving a pgvector collection to halfvec with reembed', () => {
  let testDb: TestDatabase;
  let serving: VectorsyncRuntime;
  let operator: VectorsyncRuntime;
  let workers: SyncWorkers;
  let oldLocation: string;
  let newLocation: string;

  const input = (vectorType: 'vector' | 'halfvec'): ConfigInput => ({
    ...demoConfig({ dimensions: DIMENSIONS }),
    databaseUrl: testDb.url,
    sync: { ...fastSync, indexRefreshMs: 100 },
    stores: { main: { provider: 'pgvector', vectorType } },
  });

  async function columnType(location: string): Promise<string> {
    const result = await testDb.db.query<{ type: string }>(
      `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = to_regclass($1) AND attname = 'embedding'`,
      [`vectorsync.${location}`],
    );
    return result.rows[0]!.type;
  }

  async function annOpclasses(location: string): Promise<string[]> {
    const result = await testDb.db.query<{ opclass: string }>(
      `SELECT o.opcname AS opclass FROM pg_index i JOIN pg_opclass o ON o.oid = i.indclass[0]
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid = to_regclass($1) AND a.amname = 'hnsw'`,
      [`vectorsync.${location}`],
    );
    return result.rows.map((row) => row.opclass);
  }

  async function meanVectorBytes(location: string): Promise<number> {
    const result = await testDb.db.query<{ bytes: number }>(
      `SELECT avg(pg_column_size(embedding))::float8 AS bytes FROM vectorsync.${location}`,
    );
    return result.rows[0]!.bytes;
  }

  /** Semantic hits the service (on the old config) returns from whichever version is active. */
  async function semanticHits(): Promise<number> {
    const response = await new SearchService(serving).search({
      collection: 'products',
      tenant: 'acme',
      query: 'black jersey top',
      mode: 'semantic',
      k: 5,
    });
    return response.hits.length;
  }

  before(async () => {
    testDb = await createTestDatabase('reembed_halfvec');
    await createProductsTable(testDb.db);
    // The service keeps the old config (vector) and its workers sync during the whole change.
    serving = await openProductsRuntime(testDb, { config: parseConfig(input('vector')) });
    workers = new SyncWorkers(serving, silentLogger, { sync: { ...fastSync, concurrency: 2 } });
    await workers.start();
    operator = await openProductsRuntime(testDb, { config: parseConfig(input('halfvec')), setup: false });
    await insertProducts(testDb.db, 'acme', products(400, 91));
    await waitFor(() => outboxDrained(testDb.db), { message: 'the initial rows to sync' });
    oldLocation = serving.activeTarget('products').record.location;
  });

  after(async () => {
    await workers.stop();
    await operator.close();
    await serving.close();
    await testDb.drop();
  });

  it('setup names the setting it did not apply and leaves the serving version as it is', async () => {
    const [result] = await setupCollections(operator);
    assert.equal(result!.index.location, oldLocation);
    assert.equal(result!.createdIndex, false);
    assert.deepEqual(result!.settingsNotApplied, ['vectorType']);
    assert.equal(await columnType(oldLocation), `vector(${DIMENSIONS})`);
    // The config the version was built with: nothing to report (the analyzer included).
    const [same] = await setupCollections(serving);
    assert.equal(same!.settingsNotApplied, undefined);
  });

  it('builds a halfvec version beside the vector one, verifies it and cuts over', async () => {
    const report = await reembed(operator, { collection: 'products', pageSize: 100, queries: 20 });
    newLocation = report.to.location;
    assert.deepEqual(report.problems, []);
    assert.equal(report.modelChanged, false, 'the same model: the overlap gate applies');
    assert.equal(report.cutover, true);
    const semantic = report.shadow.find((mode) => mode.mode === 'semantic')!;
    // 2-byte floats barely move cosine similarities: the top 10 are (nearly) the same.
    assert.ok(semantic.overlap !== null && semantic.overlap >= 0.9, JSON.stringify(semantic));

    assert.equal(await columnType(newLocation), `halfvec(${DIMENSIONS})`);
    assert.deepEqual(await annOpclasses(newLocation), ['halfvec_cosine_ops']);
    assert.deepEqual(await annOpclasses(oldLocation), ['vector_cosine_ops']);
    const [vectorBytes, halfBytes] = [await meanVectorBytes(oldLocation), await meanVectorBytes(newLocation)];
    assert.equal(vectorBytes, 8 + 4 * DIMENSIONS);
    assert.equal(halfBytes, 8 + 2 * DIMENSIONS);

    await waitFor(() => serving.activeTarget('products').record.location === newLocation, {
      message: 'the service to search the new version',
    });
    assert.equal(await semanticHits(), 5);
  });

  it('keeps both versions current from a service still on the old config', async () => {
    await testDb.db.query(`UPDATE products SET name = name || ' revised' WHERE article_id IN (
      SELECT article_id FROM products ORDER BY article_id LIMIT 25)`);
    await insertProducts(testDb.db, 'acme', products(30, 92));
    await waitForOutboxDrain(testDb.db, { message: 'the writes after the cut-over' });
    for (const location of [newLocation, oldLocation]) {
      const target = operator.collection('products').targets.find((t) => t.record.location === location)!;
      const check = await reconcileCollection(operator, {
        collection: 'products',
        indexId: target.record.id,
      });
      assert.equal(check.inSync, true, `${location}: ${JSON.stringify(check.counts)}`);
    }
  });

  it('builds a per-tenant index on the halfvec version with its operator class, verified by recall', async () => {
    const operation = await new IndexOperations(operator).build({ collection: 'products', tenant: 'acme' });
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    assert.deepEqual(await annOpclasses(newLocation), ['halfvec_cosine_ops', 'halfvec_cosine_ops']);
    // The recall check searched the halfvec column with a halfvec query (a vector one cannot be compared with it).
    const recall = (operation.result as { recall?: { recall: number; queries: number } }).recall;
    assert.ok(recall && recall.queries > 0 && recall.recall > 0.9, JSON.stringify(operation.result));
  });

  it('rolls back to the vector version while it is kept', async () => {
    await rollbackToStandby(operator, 'products');
    const state = await migrationState(operator, 'products');
    assert.equal(state.active.location, oldLocation);
    await serving.refreshIndexes();
    assert.equal(await semanticHits(), 5);
  });

  it('refuses, before creating anything, more dimensions than pgvector can index for the type', async () => {
    const target = operator.activeTarget('products');
    const wide = { ...target.spec, location: 'idx_products_wide', dimensions: 3072 };
    await assert.rejects(
      target.store.ensureIndex(wide),
      (error: unknown) =>
        isVectorsyncError(error, ErrorCode.ConfigInvalid) &&
        /at most 2,000 dimensions of type vector; index idx_products_wide has 3072: set the store's `vectorType: halfvec`/.test(
          (error as Error).message,
        ),
    );
    await assert.rejects(
      target.store.ensureIndex({
        ...wide,
        dimensions: 4096,
        params: { ...wide.params, vectorType: 'halfvec' },
      }),
      (error: unknown) =>
        isVectorsyncError(error, ErrorCode.ConfigInvalid) &&
        /at most 4,000 dimensions of type halfvec/.test((error as Error).message),
    );
    const table = await testDb.db.query<{ t: string | null }>(
      `SELECT to_regclass('vectorsync.idx_products_wide')::text AS t`,
    );
    assert.equal(table.rows[0]!.t, null);
    // What halfvec can index, it does: a 3,072-dimension version gets its table and HNSW index.
    const halfWide = { ...wide, params: { ...wide.params, vectorType: 'halfvec' } };
    await target.store.ensureIndex(halfWide);
    assert.equal(await columnType('idx_products_wide'), 'halfvec(3072)');
    assert.deepEqual(await annOpclasses('idx_products_wide'), ['halfvec_cosine_ops']);
    await target.store.drop(halfWide);
  });
});
