import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { referenceBm25 } from './helpers/reference-bm25.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('BM25 in Postgres', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let search: SearchService;

  before(async () => {
    testDb = await createTestDatabase('bm25');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    worker = new OutboxWorker({ runtime });
    await worker.start();
    search = new SearchService(runtime);
    await insertProducts(testDb.db, 'acme', products(80, 91));
    await insertProducts(testDb.db, 'globex', products(40, 92));
    await settle();
  });
  after(async () => {
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  const settle = () => waitFor(() => outboxDrained(testDb.db), { message: 'sync to settle' });

  /** The keyword text of every row of a tenant, exactly as the collection declares it. */
  async function corpus(tenant: string) {
    const fields = runtime.collection('products').definition.keywordFields;
    const rows = await testDb.db.query<Record<string, string | null>>(
      `SELECT * FROM products WHERE tenant_id = $1`,
      [tenant],
    );
    return rows.rows.map((row) => ({
      id: row.article_id!,
      text: fields
        .map((field) => row[field])
        .filter((value) => value !== null && value !== '')
        .join('\n'),
    }));
  }

  async function assertMatchesReference(tenant: string, query: string, k = 1000) {
    const all = referenceBm25(await corpus(tenant), query, { k1: 1.2, b: 0.75 });
    const expected = all.slice(0, k);
    const actual = await search.search({ collection: 'products', tenant, query, mode: 'keyword', k });
    assert.equal(actual.hits.length, expected.length, `"${query}": number of matching documents`);
    actual.hits.forEach((hit, index) => {
      const reference = expected[index]!;
      assert.ok(
        Math.abs(hit.score - reference.score) < 1e-6,
        `"${query}" #${index + 1}: ${hit.id} ${hit.score} vs ${reference.id} ${reference.score}`,
      );
      // Documents with exactly equal scores may come in either order (also across the k cut).
      if (
        Math.abs((all[index + 1]?.score ?? -1) - reference.score) > 1e-9 &&
        Math.abs((all[index - 1]?.score ?? -1) - reference.score) > 1e-9
      ) {
        assert.equal(
          hit.id,
          reference.id,
          `"${query}" #${index + 1}: actual ${JSON.stringify(actual.hits.slice(0, index + 3).map((h) => [h.id, h.score]))} expected ${JSON.stringify(all.slice(0, index + 3))}`,
        );
      }
    });
    return expected.length;
  }

  const queries = [
    'jacket',
    'warm winter jacket',
    'relaxed linen shirt shirt',
    'black',
    'organic cotton trousers with pockets',
    'THE and OF',
    'Crème brûlée jumpers',
  ];

  it('scores equal an independent reference computation to 1e-6, per tenant', async () => {
    let matched = 0;
    for (const query of queries) {
      matched += await assertMatchesReference('acme', query);
      matched += await assertMatchesReference('globex', query);
    }
    assert.ok(matched > 60, `the queries match a good share of the corpus (${matched})`);
  });

  it('returns the exact top k when it stops reading postings early (impact-ordered pruning)', async () => {
    // A larger tenant, so common terms have more postings than the first read depth (64).
    await insertProducts(testDb.db, 'bigco', products(400, 93));
    await settle();
    for (const query of queries) {
      for (const k of [1, 3, 10]) await assertMatchesReference('bigco', query, k);
    }
  });

  it('keeps statistics exact through updates, deletes, cascades, tenant moves and re-inserts', async () => {
    const rows = products(80, 91);
    await testDb.db.query(
      `UPDATE products SET description = description || ' Extra warm winter lining.' WHERE article_id = ANY($1)`,
      [rows.slice(0, 10).map((row) => row.article_id)],
    );
    await testDb.db.query('UPDATE products SET price = price + 1 WHERE article_id = ANY($1)', [
      rows.slice(10, 20).map((row) => row.article_id),
    ]);
    await testDb.db.query('DELETE FROM products WHERE article_id = ANY($1)', [
      rows.slice(20, 30).map((row) => row.article_id),
    ]);
    await testDb.db.query(`UPDATE products SET tenant_id = 'globex' WHERE article_id = ANY($1)`, [
      rows.slice(30, 35).map((row) => row.article_id),
    ]);
    await insertProducts(testDb.db, 'acme', rows.slice(20, 25));
    await settle();
    for (const query of queries) {
      await assertMatchesReference('acme', query);
      await assertMatchesReference('globex', query);
    }
    const location = runtime.activeTarget('products').record.location;
    const stats = await testDb.db.query<{ tenant: string; docs: string; len: string }>(
      `SELECT tenant, sum(docs)::text AS docs, sum(total_len)::text AS len FROM vectorsync."${location}_bm25" GROUP BY tenant ORDER BY tenant`,
    );
    const analyzer = runtime.collection('products').analyzer;
    for (const row of stats.rows) {
      const documents = await corpus(row.tenant);
      assert.equal(Number(row.docs), documents.length, `${row.tenant} document count`);
      assert.equal(
        Number(row.len),
        documents.reduce((sum, doc) => sum + analyzer.terms(doc.text).length, 0),
        `${row.tenant} total length`,
      );
    }
  });

  it('keeps each tenant’s statistics to itself', async () => {
    const before = await search.search({
      collection: 'products',
      tenant: 'acme',
      query: 'velvet',
      mode: 'keyword',
      k: 10,
    });
    const jacketsBefore = await search.search({
      collection: 'products',
      tenant: 'acme',
      query: 'jacket',
      mode: 'keyword',
      k: 50,
    });
    // Another tenant floods the corpus with the term: acme's IDF must not move.
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description) SELECT 'flood' || i, 'initech', 'jacket jacket', 'jacket' FROM generate_series(1, 200) i`,
    );
    await settle();
    const jacketsAfter = await search.search({
      collection: 'products',
      tenant: 'acme',
      query: 'jacket',
      mode: 'keyword',
      k: 50,
    });
    assert.deepEqual(jacketsAfter.hits, jacketsBefore.hits);
    assert.equal(before.hits.length, 0);
    const flood = await search.search({
      collection: 'products',
      tenant: 'initech',
      query: 'jacket',
      mode: 'keyword',
      k: 500,
    });
    assert.equal(flood.hits.length, 200);
    assert.ok(flood.hits.every((hit) => hit.id.startsWith('flood')));
  });

  it('matches accents, case and inflections the same way in queries and documents', async () => {
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description) VALUES ('accent-1', 'umbrella', 'Café crème jumpers', 'Knitted in Zürich')`,
    );
    await settle();
    for (const query of ['cafe', 'CAFÉ', 'creme jumper', 'zurich knit']) {
      const result = await search.search({
        collection: 'products',
        tenant: 'umbrella',
        query,
        mode: 'keyword',
        k: 5,
      });
      assert.equal(result.hits[0]?.id, 'accent-1', query);
    }
  });
});
