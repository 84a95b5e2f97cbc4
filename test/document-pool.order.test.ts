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

  it('a 100 kB row between small rows and one that cannot be built: every result belongs to its row', async () => {
    // Row 0 cannot be built (no text at all); row 3 is large enough to be a task of its own.
    const items = products(6, 811).map((item, i) => ({
      ...item,
      article_id: `order-${i}`,
      ...(i === 0 ? { name: '', product_type: '', color: '', department: '', description: '' } : {}),
      ...(i === 3 ? { description: 'long linen coat description '.repeat(4000) } : {}),
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
      prepared.documents.map((result) => result?.id),
      rows.map((row) => row.id),
    );
    const [unbuildable, ...built] = prepared.documents;
    assert.ok(unbuildable && 'error' in unbuildable, 'the row without text fails');
    for (const [offset, result] of built.entries()) {
      const row = rows[offset + 1]!;
      assert.ok(result && 'document' in result, `row ${row.id} has its document`);
      assert.equal(result.document.id, row.id);
      assert.ok(result.document.text.startsWith(String(row.values.name)), `row ${row.id} has its own text`);
    }
  });
});
