import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { type SearchMode, SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

interface Row {
  article_id: string;
  tenant_id: string;
  color: string | null;
  product_type: string | null;
  department: string | null;
  price: number | null;
  created_at: string;
}

describe('search filters', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let search: SearchService;
  let rows: Row[];

  before(async () => {
    testDb = await createTestDatabase('filters');
    await createProductsTable(testDb.db);
    const base = demoConfig({ dimensions: 64 });
    base.collections.products!.payloadFields = ['product_type', 'color', 'department', 'price', 'created_at'];
    runtime = await openProductsRuntime(testDb, {
      config: parseConfig({ ...base, databaseUrl: testDb.url, sync: fastSync }),
    });
    worker = new OutboxWorker({ runtime });
    await worker.start();
    search = new SearchService(runtime);
    await insertProducts(testDb.db, 'acme', products(120, 101));
    await insertProducts(testDb.db, 'globex', products(60, 102));
    // Gaps for exists/ne, and distinct creation times for timestamp ranges.
    await testDb.db.query(
      `UPDATE products SET department = NULL, color = NULL WHERE article_id IN (SELECT article_id FROM products ORDER BY article_id LIMIT 15)`,
    );
    await testDb.db.query(
      `UPDATE products SET price = 12.5 WHERE article_id IN (SELECT article_id FROM products ORDER BY article_id LIMIT 9 OFFSET 30)`,
    );
    await testDb.db.query(
      `UPDATE products SET created_at = '2026-01-01'::timestamptz + (hashtext(article_id) % 100) * interval '1 day'`,
    );
    await waitFor(() => outboxDrained(testDb.db), { message: 'sync' });
    const result = await testDb.db.query<Row>(
      `SELECT article_id, tenant_id, color, product_type, department, price::float8 AS price, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at FROM products`,
    );
    rows = result.rows;
  });
  after(async () => {
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  const prices = () =>
    rows.filter((row) => row.tenant_id === 'acme' && row.price !== null).map((row) => row.price!);

  const cases: Array<{ name: string; filter: unknown; expect: (row: Row) => boolean }> = [
    { name: 'eq (shorthand)', filter: { color: 'Black' }, expect: (r) => r.color === 'Black' },
    { name: 'eq on a number', filter: { price: { eq: 12.5 } }, expect: (r) => r.price === 12.5 },
    {
      name: 'ne (missing values match)',
      filter: { color: { ne: 'Black' } },
      expect: (r) => r.color !== 'Black',
    },
    {
      name: 'in',
      filter: { product_type: { in: ['Jacket', 'Dress', 'Boots'] } },
      expect: (r) => ['Jacket', 'Dress', 'Boots'].includes(r.product_type ?? ''),
    },
    {
      name: 'range',
      filter: { price: { gte: 20, lt: 50 } },
      expect: (r) => r.price !== null && r.price >= 20 && r.price < 50,
    },
    {
      name: 'range gt/lte',
      filter: { price: { gt: 30, lte: 60 } },
      expect: (r) => r.price !== null && r.price > 30 && r.price <= 60,
    },
    { name: 'exists false', filter: { department: { exists: false } }, expect: (r) => r.department === null },
    { name: 'exists true', filter: { department: { exists: true } }, expect: (r) => r.department !== null },
    {
      name: 'timestamp range',
      filter: { created_at: { gte: '2026-02-01T00:00:00Z', lt: '2026-03-01T00:00:00Z' } },
      expect: (r) => r.created_at >= '2026-02-01' && r.created_at < '2026-03-01',
    },
    {
      name: 'and / or / not',
      filter: {
        or: [
          { and: [{ color: 'Black' }, { price: { lt: 40 } }] },
          { not: { product_type: { in: ['Jacket', 'Dress', 'Socks', 'Scarf', 'Bag', 'Shirt'] } } },
        ],
      },
      expect: (r) =>
        (r.color === 'Black' && r.price !== null && r.price < 40) ||
        !['Jacket', 'Dress', 'Socks', 'Scarf', 'Bag', 'Shirt'].includes(r.product_type ?? ''),
    },
    {
      name: 'several keys are ANDed',
      filter: { color: 'Grey', product_type: { ne: 'Jacket' } },
      expect: (r) => r.color === 'Grey' && r.product_type !== 'Jacket',
    },
  ];

  it('each operator selects exactly the matching rows, in semantic mode, within the tenant', async () => {
    for (const testCase of cases) {
      const expected = rows
        .filter((row) => row.tenant_id === 'acme' && testCase.expect(row))
        .map((row) => row.article_id)
        .sort();
      const result = await search.search({
        collection: 'products',
        tenant: 'acme',
        query: 'anything at all',
        mode: 'semantic',
        k: 1000,
        filter: testCase.filter,
      });
      assert.deepEqual(result.hits.map((hit) => hit.id).sort(), expected, testCase.name);
      assert.ok(
        expected.length > 0 && expected.length < 120,
        `${testCase.name} is selective (${expected.length})`,
      );
    }
    assert.ok(prices().length > 100);
  });

  it('each operator applies inside keyword and hybrid search too', async () => {
    const keywordMatches = new Set(
      (
        await search.search({
          collection: 'products',
          tenant: 'acme',
          query: 'with',
          mode: 'keyword',
          k: 1000,
        })
      ).hits.map((hit) => hit.id),
    );
    assert.equal(keywordMatches.size, 0, 'stop words match nothing');
    for (const testCase of cases) {
      const query = 'shirt jacket dress trousers boots';
      const unfiltered = await search.search({
        collection: 'products',
        tenant: 'acme',
        query,
        mode: 'keyword',
        k: 1000,
      });
      const byId = new Map(rows.map((row) => [row.article_id, row]));
      const expected = unfiltered.hits
        .filter((hit) => testCase.expect(byId.get(hit.id)!))
        .map((hit) => hit.id);
      const filtered = await search.search({
        collection: 'products',
        tenant: 'acme',
        query,
        mode: 'keyword',
        k: 1000,
        filter: testCase.filter,
      });
      assert.deepEqual(
        filtered.hits.map((hit) => hit.id),
        expected,
        `keyword: ${testCase.name}`,
      );
      const hybrid = await search.search({
        collection: 'products',
        tenant: 'acme',
        query,
        mode: 'hybrid',
        k: 50,
        filter: testCase.filter,
      });
      assert.ok(
        hybrid.hits.every((hit) => testCase.expect(byId.get(hit.id)!)),
        `hybrid: ${testCase.name}`,
      );
    }
  });

  it('never returns another tenant’s rows, whatever the filter and mode', async () => {
    const globex = new Set(rows.filter((row) => row.tenant_id === 'globex').map((row) => row.article_id));
    for (const mode of ['semantic', 'keyword', 'hybrid'] as SearchMode[]) {
      for (const testCase of cases) {
        const result = await search.search({
          collection: 'products',
          tenant: 'acme',
          query: 'jacket shirt black',
          mode,
          k: 1000,
          filter: testCase.filter,
        });
        assert.ok(
          result.hits.every((hit) => !globex.has(hit.id)),
          `${mode} ${testCase.name}`,
        );
      }
    }
  });

  it('rejects a bad filter with INVALID_FILTER naming the field or operator', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ colour: 'Black' }, /unknown field "colour"/],
      [{ tenant_id: 'globex' }, /unknown field "tenant_id"/],
      [{ price: { between: [1, 2] } }, /unknown operator "between" on field "price"/],
      [{ price: 'cheap' }, /"price" eq expects a number/],
      [{ color: { gt: 'B' } }, /operator "gt" needs a number or timestamp field; "color" is string/],
      [{ created_at: { gte: 'yesterday' } }, /ISO 8601/],
      [{ color: { in: [] } }, /"in" on "color" takes an array/],
      ['{"color": ', /not valid JSON/],
      [{ and: {} }, /"and" takes a non-empty array/],
      [[{ color: 'Black' }], /must be a JSON object/],
      [{}, /empty filter/],
    ];
    for (const [filter, message] of bad) {
      await assert.rejects(
        search.search({ collection: 'products', tenant: 'acme', query: 'x', mode: 'semantic', k: 5, filter }),
        (error) => {
          assert.ok(isVectorsyncError(error, ErrorCode.InvalidFilter), String(error));
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});
