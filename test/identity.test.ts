import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import type { EmbeddedDocument } from '../src/pipeline/index-document.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

describe('identity discipline in the pgvector index', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('identity');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
  });
  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  const vector = (dimensions: number) => new Float32Array(dimensions).fill(1 / Math.sqrt(dimensions));
  const document = (id: string, dimensions = 64): EmbeddedDocument => ({
    collection: 'products',
    tenant: 'acme',
    id,
    version: 1,
    contentHash: 'h',
    text: 't',
    keywords: '',
    terms: {},
    termCount: 0,
    payload: {},
    vector: vector(dimensions),
  });

  it('references the source row by foreign key with ON DELETE CASCADE and ON UPDATE CASCADE', async () => {
    const location = runtime.activeTarget('products').record.location;
    const fk = await testDb.db.query<{ definition: string }>(
      `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'`,
      [`vectorsync.${location}`],
    );
    assert.match(
      fk.rows[0]!.definition,
      /FOREIGN KEY \(id\) REFERENCES products\(article_id\) ON UPDATE CASCADE ON DELETE CASCADE/,
    );
  });

  it('refuses a vector for an id that does not exist in the source, naming the id', async () => {
    const { store } = runtime.collection('products');
    const spec = runtime.activeTarget('products').spec;
    const [item] = products(1, 71);
    await insertProducts(testDb.db, 'acme', [item!]);
    const results = await store.upsert(spec, [document(item!.article_id), document('S3://bucket/vec-0042')]);
    assert.equal(results[0]!.outcome, 'applied', 'the valid neighbour is written');
    assert.equal(results[1]!.outcome, 'failed');
    assert.ok(isVectorsyncError(results[1]!.error, ErrorCode.SourceRowMissing));
    assert.match(results[1]!.error!.message, /S3:\/\/bucket\/vec-0042/);
    const stored = await testDb.db.query(
      `SELECT id FROM vectorsync."${spec.location}" WHERE id = 'S3://bucket/vec-0042'`,
    );
    assert.equal(stored.rowCount, 0);
  });

  it('rejects a vector of the wrong dimensions, naming it, without touching the index', async () => {
    const { store } = runtime.collection('products');
    const spec = runtime.activeTarget('products').spec;
    const [item] = products(1, 72);
    await insertProducts(testDb.db, 'acme', [item!]);
    const [result] = await store.upsert(spec, [document(item!.article_id, 3)]);
    assert.ok(isVectorsyncError(result!.error, ErrorCode.DimensionMismatch));
    assert.match(result!.error!.message, /3 dimensions, index .* expects 64/);
    await assert.rejects(store.search(spec, { tenant: 'acme', vector: vector(5), k: 3 }), (error) =>
      isVectorsyncError(error, ErrorCode.DimensionMismatch),
    );
  });

  it('a source delete removes the vector in the same transaction', async () => {
    const { store } = runtime.collection('products');
    const spec = runtime.activeTarget('products').spec;
    const [item] = products(1, 73);
    await insertProducts(testDb.db, 'acme', [item!]);
    await store.upsert(spec, [document(item!.article_id)]);
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [item!.article_id]);
    const stored = await testDb.db.query(`SELECT 1 FROM vectorsync."${spec.location}" WHERE id = $1`, [
      item!.article_id,
    ]);
    assert.equal(stored.rowCount, 0);
  });

  it('a primary-key change of an indexed row commits, and its record follows the key', async () => {
    const { store } = runtime.collection('products');
    const spec = runtime.activeTarget('products').spec;
    const [item] = products(1, 74);
    await insertProducts(testDb.db, 'acme', [item!]);
    await store.upsert(spec, [{ ...document(item!.article_id), terms: { coat: 2 }, termCount: 2 }]);
    // Before ON UPDATE CASCADE, the foreign key failed the application's own UPDATE.
    await testDb.db.query(`UPDATE products SET article_id = 'renamed-74' WHERE article_id = $1`, [
      item!.article_id,
    ]);
    const stored = await testDb.db.query<{ id: string }>(
      `SELECT id FROM vectorsync."${spec.location}" WHERE id IN ($1, 'renamed-74')`,
      [item!.article_id],
    );
    assert.deepEqual(stored.rows, [{ id: 'renamed-74' }]);
    const documents = await testDb.db.query<{ id: string }>(
      `SELECT id FROM vectorsync."${spec.location}_bm25_docs" WHERE id IN ($1, 'renamed-74')`,
      [item!.article_id],
    );
    assert.deepEqual(documents.rows, [{ id: 'renamed-74' }], 'the keyword index follows the key too');
  });

  it('TRUNCATE … CASCADE of the source empties the keyword-search tables in the same transaction', async () => {
    const { store } = runtime.collection('products');
    const spec = runtime.activeTarget('products').spec;
    const [item] = products(1, 75);
    await insertProducts(testDb.db, 'acme', [item!]);
    await store.upsert(spec, [{ ...document(item!.article_id), terms: { linen: 1 }, termCount: 1 }]);
    await testDb.db.query('TRUNCATE products CASCADE');
    for (const suffix of ['', '_bm25_docs', '_postings', '_bm25']) {
      const left = await testDb.db.query(`SELECT 1 FROM vectorsync."${spec.location}${suffix}"`);
      assert.equal(left.rowCount, 0, `vectorsync.${spec.location}${suffix} is empty`);
    }
    // The same id indexed again, before any truncate event is applied, is written normally.
    await insertProducts(testDb.db, 'acme', [item!]);
    const [result] = await store.upsert(spec, [
      { ...document(item!.article_id), version: 2, terms: { linen: 1 }, termCount: 1 },
    ]);
    assert.equal(result!.outcome, 'applied', JSON.stringify(result));
  });
});
