import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  createVectorsyncClient,
  ErrorCode,
  isVectorsyncError,
  type VectorsyncClient,
  VectorsyncHttpError,
} from '../src/client.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { vectorsyncPlugin } from '../src/fastify.js';
import { openVectorsync, type Vectorsync, type VectorsyncService } from '../src/index.js';
import { createProductsTable, fastSync, insertProducts, products } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

function rejectsWith(code: string, status?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof VectorsyncHttpError, `a VectorsyncHttpError, got ${error}`);
    assert.ok(isVectorsyncError(error, code as ErrorCode), `${code}, got ${error.code}: ${error.message}`);
    if (status !== undefined) assert.equal(error.status, status);
    return true;
  };
}

/** `vectorsync/client` against the real service (`vectorsync.serve()`) and the Fastify plugin. */
describe('vectorsync/client: the HTTP service, typed', () => {
  let testDb: TestDatabase;
  let vectorsync: Vectorsync;
  let service: VectorsyncService;
  let tenant: VectorsyncClient;
  let admin: VectorsyncClient;
  let tenantKey: string;

  before(async () => {
    testDb = await createTestDatabase('http_client');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(30, 5));
    await insertProducts(testDb.db, 'globex', products(5, 6));
    vectorsync = await openVectorsync(
      { ...demoConfig({ dimensions: 32 }), databaseUrl: testDb.url, sync: fastSync },
      { env: {} },
    );
    await vectorsync.setup();
    service = await vectorsync.serve({ host: '127.0.0.1', port: 0, workers: true });
    tenantKey = (await vectorsync.apiKeys.create({ name: 'client-tenant', tenant: 'acme' })).key;
    const adminKey = (await vectorsync.apiKeys.create({ name: 'client-admin', admin: true })).key;
    tenant = createVectorsyncClient({ url: service.url, apiKey: tenantKey });
    admin = createVectorsyncClient({ url: service.url, apiKey: adminKey });
    await waitFor(
      async () => {
        const [status] = (await admin.sync.status()).collections;
        return status!.pending + status!.processing === 0;
      },
      { timeoutMs: 60_000, message: 'the backfill to be applied' },
    );
  });

  after(async () => {
    await vectorsync?.close();
    await testDb?.drop();
  });

  it('searches the key’s tenant with filters, fusion overrides and cursors', async () => {
    assert.equal(await tenant.healthz(), true);
    assert.equal((await tenant.readyz()).ready, true);
    const [collection] = await tenant.collections();
    assert.equal(collection?.name, 'products');
    assert.ok(collection?.payloadFields.some((field) => field.name === 'price'));

    const first = await tenant.search({
      collection: 'products',
      query: 'shirt',
      k: 4,
      explain: true,
      fusion: { fusion: 'rrf', rrfK: 10 },
    });
    assert.equal(first.hits.length, 4);
    assert.equal(first.hits[0]?.explain?.fusion, 'rrf(k=10)');
    const second = await tenant.search({ collection: 'products', query: 'shirt', k: 4, cursor: first.next! });
    assert.equal(second.offset, 4);
    const acme = new Set(
      (
        await testDb.db.query<{ id: string }>(
          `SELECT article_id AS id FROM products WHERE tenant_id = 'acme'`,
        )
      ).rows.map((row) => row.id),
    );
    assert.ok([...first.hits, ...second.hits].every((hit) => acme.has(hit.id)));

    const cheap = await tenant.search({
      collection: 'products',
      query: 'shirt',
      mode: 'keyword',
      k: 50,
      filter: { price: { lt: 20 } },
    });
    assert.ok(cheap.hits.every((hit) => Number(hit.payload.price) < 20));
    const weighted = await tenant.search({
      collection: 'products',
      query: 'shirt',
      explain: true,
      fusion: { fusion: 'weighted', weights: { semantic: 0, keyword: 1 } },
    });
    assert.match(weighted.hits[0]?.explain?.fusion ?? '', /^weighted/);

    await assert.rejects(
      tenant.search({ collection: 'products', query: 'x', filter: { nope: { eq: 1 } } }),
      rejectsWith(ErrorCode.InvalidFilter, 400),
    );
    await assert.rejects(
      tenant.search({ collection: 'nope', query: 'x' }),
      rejectsWith(ErrorCode.UnknownCollection, 404),
    );
  });

  it('writes documents of the key’s tenant; errors carry the service’s code, status and request id', async () => {
    const created = await tenant.documents.create('products', {
      article_id: 'client-1',
      name: 'Harbour raincoat',
      description: 'A waxed cotton raincoat',
      price: 89.5,
    });
    assert.equal(created.document.tenant_id, 'acme');
    assert.equal(created.index, null); // outbox mode: capture indexes it
    assert.equal((await tenant.documents.get('products', 'client-1')).name, 'Harbour raincoat');
    const patched = await tenant.documents.update('products', 'client-1', { price: 79 });
    assert.equal(patched.document.price, 79);
    assert.equal(patched.document.description, 'A waxed cotton raincoat');
    const replaced = await tenant.documents.replace('products', 'client-1', { name: 'Harbour coat' });
    assert.equal(replaced.document.description, null);
    await waitFor(
      async () =>
        (await tenant.search({ collection: 'products', query: 'harbour coat', mode: 'keyword', k: 1 }))
          .hits[0]?.id === 'client-1',
      { timeoutMs: 30_000, message: 'the created document to be searchable' },
    );
    assert.deepEqual(await tenant.documents.delete('products', 'client-1'), { index: null });

    const missing = await tenant.documents.get('products', 'client-1').catch((error: unknown) => error);
    assert.ok(missing instanceof VectorsyncHttpError);
    assert.equal(missing.code, ErrorCode.DocumentNotFound);
    assert.equal(missing.status, 404);
    assert.equal(missing.transient, false);
    assert.match(missing.requestId ?? '', /^[0-9a-f-]{36}$/);
    await assert.rejects(
      tenant.documents.create('products', { article_id: 'client-2', name: 'x', colour: 'Red' }),
      rejectsWith(ErrorCode.UnknownField, 400),
    );
    // Ids are path segments: anything a primary key may hold reaches the service as it is.
    await assert.rejects(
      tenant.documents.get('products', 'a/b?c#d'),
      rejectsWith(ErrorCode.DocumentNotFound, 404),
    );
  });

  it('admin: sync status and events, retries, reconciliation, index status and history', async () => {
    const status = await admin.sync.status();
    assert.equal(status.collections[0]?.collection, 'products');
    const page = await admin.sync.events({ collection: 'products', limit: 2 });
    assert.equal(page.events.length, 2);
    assert.ok(page.next);
    const older = await admin.sync.events({ collection: 'products', limit: 2, before: page.next! });
    assert.ok(BigInt(older.events[0]!.id) < BigInt(page.events[1]!.id));
    assert.deepEqual(await admin.sync.retry({ collection: 'products' }), { retried: [] });
    await assert.rejects(
      admin.sync.events({ status: 'nonsense' as 'failed' }),
      rejectsWith(ErrorCode.InvalidRequest, 400),
    );

    const [report] = await admin.reconcile.run({ collection: 'products', mode: 'dry-run' });
    assert.equal(report?.mode, 'dry-run');
    assert.equal(report?.trigger, 'http');
    const runs = await admin.reconcile.runs({ collection: 'products', limit: 1 });
    assert.deepEqual(runs.running, []);
    assert.equal(runs.runs[0]?.mode, 'dry-run');
    assert.deepEqual(await admin.reconcile.abort('products'), []);

    const indexStatus = await admin.indexes.status('products');
    assert.equal(indexStatus.collection, 'products');
    assert.equal(indexStatus.supported, true);
    assert.deepEqual(await admin.indexes.history('products', { limit: 5 }), { operations: [], next: null });

    await assert.rejects(tenant.sync.status(), rejectsWith(ErrorCode.Forbidden, 403));
    await assert.rejects(
      admin.search({ collection: 'products', query: 'shirt' }),
      rejectsWith(ErrorCode.TenantRequired, 400),
    );
    await assert.rejects(
      createVectorsyncClient({ url: service.url }).collections(),
      rejectsWith(ErrorCode.Unauthenticated, 401),
    );
  });

  it('talks to the plugin under an application’s prefix', async () => {
    const app: FastifyInstance = Fastify();
    await app.register(vectorsyncPlugin, { vectorsync, prefix: '/search-api' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as AddressInfo;
      const client = createVectorsyncClient({
        url: `http://127.0.0.1:${port}/search-api`,
        apiKey: tenantKey,
      });
      assert.equal(client.url, `http://127.0.0.1:${port}/search-api/`);
      assert.equal(await client.healthz(), true);
      const found = await client.search({ collection: 'products', query: 'shirt', k: 2 });
      assert.equal(found.hits.length, 2);
    } finally {
      await app.close();
    }
  });

  it('no answer: SERVICE_UNREACHABLE, TIMEOUT and ABORTED, all without a status', async () => {
    const closed = await listenOn(createServer());
    const closedUrl = closed.url;
    await new Promise((resolve) => closed.server.close(resolve));
    await assert.rejects(createVectorsyncClient({ url: closedUrl }).healthz(), (error: unknown) => {
      rejectsWith(ErrorCode.ServiceUnreachable, 0)(error);
      assert.equal((error as VectorsyncHttpError).transient, true);
      assert.match((error as Error).message, /unreachable \(ECONNREFUSED\)/);
      return true;
    });

    const pending = new Set<() => void>();
    const silent = await listenOn(
      createServer((request, response) => {
        if (request.url === '/healthz') {
          response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
          return;
        }
        pending.add(() => response.destroy()); // never answers
      }),
    );
    try {
      await assert.rejects(
        createVectorsyncClient({ url: silent.url, timeoutMs: 200 }).sync.status(),
        rejectsWith(ErrorCode.Timeout, 0),
      );
      const controller = new AbortController();
      const aborted = createVectorsyncClient({ url: silent.url }).sync.status({ signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted, rejectsWith(ErrorCode.Aborted, 0));
      await assert.rejects(createVectorsyncClient({ url: silent.url }).healthz(), (error: unknown) => {
        rejectsWith(ErrorCode.ServiceUnreachable, 502)(error);
        assert.match((error as Error).message, /Bad Gateway/);
        return true;
      });
    } finally {
      for (const end of pending) end();
      silent.server.closeAllConnections();
      await new Promise((resolve) => silent.server.close(resolve));
    }
  });
});

async function listenOn(server: Server): Promise<{ server: Server; url: string }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
