import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { PgliteDatabase } from '../src/db/pglite-database.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { bootstrapDemo } from '../src/demo/demo-bootstrap.js';
import { silentLogger } from '../src/logger.js';
import { startService } from '../src/server/start-service.js';
import { trackChildProcess } from './helpers/child-processes.js';
import { waitFor } from './helpers/wait-for.js';

describe('the demo on embedded Postgres (PGlite + pgvector)', () => {
  it('generates the same catalog for the same seed', () => {
    const a = [...generateCatalog(50, 42)];
    const b = [...generateCatalog(50, 42)];
    assert.deepEqual(a, b);
    assert.equal(new Set(a.map((item) => item.article_id)).size, 50);
    assert.ok(
      a.every((item) => /^\d{10}$/.test(item.article_id) && item.price > 0 && item.name && item.description),
    );
  });

  it('syncs the catalog and serves search, writes and tenant isolation with no server installed', async () => {
    const db = await PgliteDatabase.create();
    const state = await bootstrapDemo({
      db,
      logger: silentLogger,
      products: 150,
      port: 0,
      host: '127.0.0.1',
    });
    const service = await startService(state.runtime, silentLogger);
    try {
      const get = async (path: string, key: string) => {
        const response = await fetch(`${service.url}${path}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        return { status: response.status, body: (await response.json()) as any };
      };
      await waitFor(
        async () =>
          (await get('/v1/sync/status', state.adminKey)).body.collections[0].pending === 0 &&
          (await state.runtime
            .collection('products')
            .store.count(state.runtime.activeTarget('products').spec)) === 175,
        {
          timeoutMs: 60_000,
          message: 'the demo catalog to be indexed',
        },
      );
      // The help-centre articles are chunked: a hit is an article with the section that matched.
      const articles = await waitFor(
        async () => {
          const { body } = await get(
            '/v1/collections/articles/search?q=how+long+do+refunds+take&k=3',
            state.tenantKey,
          );
          return body.hits?.[0]?.payload?.title === 'Returns and refunds' ? body : undefined;
        },
        { timeoutMs: 30_000, message: 'the articles to be indexed and found' },
      );
      const chunk = articles.hits[0].chunks[0];
      assert.match(chunk.text, /Refunds are issued/);
      assert.ok(chunk.start > 0 && chunk.end > chunk.start, 'the chunk has offsets into the article');
      // Documents are built from products, brands and variants: the demo's brand filter finds them.
      const filter = encodeURIComponent(JSON.stringify({ brand: 'Northwind', colors: 'Navy' }));
      const byBrand = await get(
        `/v1/collections/products/search?q=jacket&k=50&filter=${filter}`,
        state.tenantKey,
      );
      assert.ok(byBrand.body.hits.length > 0, 'the printed brand and colour filter finds products');
      for (const hit of byBrand.body.hits) {
        assert.equal(hit.payload.brand, 'Northwind');
        assert.ok(hit.payload.colors.includes('Navy'));
      }
      const created = await fetch(`${service.url}/v1/collections/products/documents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${state.tenantKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          article_id: '0999000001',
          name: 'Neon rain poncho',
          description: 'A bright neon-yellow rain poncho',
          price: 19.99,
        }),
      });
      assert.equal(created.status, 201);
      const found = await waitFor(
        async () => {
          const { body } = await get(
            '/v1/collections/products/search?q=neon+rain+poncho&k=3',
            state.tenantKey,
          );
          return body.hits[0]?.id === '0999000001' ? body : undefined;
        },
        { timeoutMs: 10_000, message: 'the new product to become searchable' },
      );
      assert.equal(found.hits.length, 3);
      const other = await get(
        '/v1/collections/products/search?q=neon+rain+poncho&k=50',
        state.otherTenantKey,
      );
      assert.ok(
        other.body.hits.length > 0 && other.body.hits.every((hit: { id: string }) => hit.id !== '0999000001'),
      );
    } finally {
      await service.stop();
      await state.runtime.close();
      await db.close();
    }
  });

  it('`npm run demo` entry point starts, indexes and prints working instructions', async () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const child = trackChildProcess(
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'demo',
          '--products',
          '100',
          '--port',
          '0',
          '--exit-after-load',
        ],
        {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
    // 100 products, 25 of the other tenant, 6 articles for each tenant.
    assert.match(stderr, /indexing: 137 event\(s\) applied/);
    assert.match(stdout, /vectorsync demo is running at http:\/\/localhost:\d+/);
    assert.match(stdout, /tenant "demo": +vs_[a-z0-9]{10}_/);
    assert.match(stdout, /curl -s '.*\/v1\/collections\/products\/search\?q=/);
  });
});
