import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSourceRows } from '../src/pipeline/source-reader.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/**
 * The document pool sends a large row as a task of its own, ahead of the small rows gathered so
 * far; the results must still come back in row order. (Found by the fault-injection suite: a
 * batch mixing TOAST-sized and ordinary rows got each other's documents back.)
 */
describe('document pool: results in row order whatever the tasks', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('document_pool_order');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
  });
  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('a 100 kB row between small rows: every result belongs to its own row', async () => {
    const items = products(6, 811).map((item, i) => ({
      ...item,
      article_id: `order-${i}`,
      description: i === 2 ? `${'long linen coat description '.repeat(4000)}` : item.description,
    }));
    await insertProducts(testDb.db, 'acme', items);
    const collection = runtime.collection('products');
    const byId = await readSourceRows(
      runtime.db,
      collection.definition,
      items.map((item) => item.article_id),
    );
    const rows = items.map((item) => byId.get(item.article_id)!);
    const prepared = await runtime.documents.prepare(collection, rows);
    assert.deepEqual(
      prepared.documents.map((result) => result.id),
      rows.map((row) => row.id),
    );
    for (const [index, result] of prepared.documents.entries()) {
      assert.ok(
        'document' in result,
        `row ${rows[index]!.id}: ${'error' in result ? result.error.message : ''}`,
      );
      assert.equal(result.document.id, rows[index]!.id);
      assert.ok(result.document.text.startsWith(String(rows[index]!.values.name)), 'its own text');
    }
  });
});
