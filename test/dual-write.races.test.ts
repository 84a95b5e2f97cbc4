import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ConfigInput } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { DocumentWriter } from '../src/sync/document-writer.js';
import { DualWriter } from '../src/sync/dual-writer.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { startCli } from './helpers/cli-process.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import {
  assertIndexMatchesSourceAcross,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  openProductsRuntime,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Issue 11, defect 6: dual-write under concurrent requests on one id, and a service killed
 * between its source commit and its index write. The vectors live in another database, so no
 * cascading foreign key hides a missing or orphaned record.
 */
describe('dual-write races and crashes', () => {
  let testDb: TestDatabase;
  let storeDb: TestDatabase;
  let embeddings: FakeEmbeddingServer;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  let location: string;
  let key = '';
  let configInput: ConfigInput;

  before(async () => {
    testDb = await createTestDatabase('dual_write_races');
    storeDb = await createTestDatabase('dual_write_races_store');
    embeddings = new FakeEmbeddingServer({ dimensions: 16 });
    const baseUrl = await embeddings.start();
    await createProductsTable(testDb.db);
    const resolved = productsConfigWith(testDb, {
      mode: 'dual-write',
      storeDatabaseUrl: storeDb.url,
      sync: { dualWriteTimeoutMs: 3000 },
    });
    configInput = {
      ...(JSON.parse(JSON.stringify(resolved)) as ConfigInput),
      embedders: {
        default: {
          provider: 'openai',
          model: 'fake',
          dimensions: 16,
          baseUrl,
          apiKeyEnv: 'NO_KEY',
          cache: 'none',
        },
      },
    };
    runtime = await openProductsRuntime(testDb, { config: parseConfig(configInput) });
    location = runtime.activeTarget('products').record.location;
    app = createServer({ runtime, logger: silentLogger });
    key = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
  });
  after(async () => {
    await app?.close();
    await runtime?.close();
    await embeddings?.stop();
    await storeDb?.drop();
    await testDb?.drop();
  });

  const documents = '/v1/collections/products/documents';
  const call = (method: string, url: string, payload?: object) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload }),
    });
  const product = (id: string, name: string) => ({ article_id: id, name, description: `${name} in cotton` });
  const inSync = () =>
    waitFor(() => indexMatchesSource(testDb.db, location, storeDb.db), {
      timeoutMs: 30_000,
      message: async () =>
        `the index to match the source: ${await assertIndexMatchesSourceAcross(testDb.db, storeDb.db, location).catch((error: Error) => error.message)}`,
    });

  it('a DELETE whose index write lands after a re-create cannot remove the new row', async () => {
    const id = 'race-delete-recreate';
    assert.equal((await call('POST', documents, product(id, 'First blazer'))).statusCode, 201);
    const writer = new DocumentWriter(runtime.db);
    const dualWriter = new DualWriter(runtime, silentLogger);
    const definition = runtime.collection('products').definition;
    // The DELETE commits; its index write is late …
    const deleted = await writer.delete(definition, 'acme', id, dualWriter.capture);
    // … a concurrent POST re-creates the row and indexes it …
    const recreated = await call('POST', documents, product(id, 'Second blazer'));
    assert.equal(recreated.statusCode, 201, recreated.body);
    assert.equal(recreated.headers['x-vectorsync-index'], 'applied');
    // … then the DELETE's index write lands: it deletes the version it deleted, nothing newer.
    const result = await dualWriter.afterWrite(deleted.change!, deleted.captured!, 'late-delete');
    assert.equal(result.index, 'applied');
    const source = await testDb.db.query<{ version: string }>(
      'SELECT version::text AS version FROM products WHERE article_id = $1',
      [id],
    );
    assert.equal((await indexRows(storeDb.db, location)).get(id)?.version, Number(source.rows[0]!.version));
    await inSync();
  });

  it('a PUT whose index write lands after a concurrent DELETE leaves no orphan', async () => {
    const id = 'race-put-delete';
    assert.equal((await call('POST', documents, product(id, 'Linen shirt'))).statusCode, 201);
    // The PUT reads its row, then its embedding call is held until the DELETE has finished.
    const release = embeddings.holdNext();
    const seen = embeddings.requests.length;
    const put = call('PUT', `${documents}/${id}`, product(id, 'Linen shirt, washed'));
    await waitFor(() => embeddings.requests.length > seen, { message: 'the PUT to reach the embedder' });
    const deleted = await call('DELETE', `${documents}/${id}`);
    assert.equal(deleted.statusCode, 204, deleted.body);
    assert.equal(deleted.headers['x-vectorsync-index'], 'applied');
    release();
    const response = await put;
    assert.equal(response.statusCode, 200, response.body);
    assert.ok(!(await indexRows(storeDb.db, location)).has(id), 'no record without a source row');
    await inSync();
  });

  it('a service killed between its source commit and its index write is repaired by the workers', async () => {
    const id = 'crash-after-commit';
    assert.equal((await call('POST', documents, product(id, 'Wool coat'))).statusCode, 201);
    const serviceKey = (await createApiKey(testDb.db, { name: 'service-app', tenant: 'acme' })).key;
    const service = await startCli(configInput, ['serve', '--no-workers', '--port', '0']);
    try {
      const url = await waitFor(() => /listening on (\S+)/.exec(service.output())?.[1], {
        message: () => `the service to listen: ${service.output()}`,
      });
      const release = embeddings.holdNext();
      const seen = embeddings.requests.length;
      const request = fetch(`${url}${documents}/${id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${serviceKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Wool coat, long' }),
      }).catch(() => 'connection lost');
      await waitFor(() => embeddings.requests.length > seen, { message: 'the PATCH to reach the embedder' });
      service.child.kill('SIGKILL');
      await service.exited;
      release();
      assert.equal(await request, 'connection lost');
    } finally {
      service.child.kill('SIGKILL');
    }
    const source = await testDb.db.query<{ name: string }>(
      'SELECT name FROM products WHERE article_id = $1',
      [id],
    );
    assert.equal(source.rows[0]?.name, 'Wool coat, long', 'the source write committed');
    assert.ok(!(await indexMatchesSource(testDb.db, location, storeDb.db)), 'the index missed it');

    // Nothing else knows about the change: the intent recorded with the write brings it in.
    // Once the request's time is up, status shows it as drift …
    await waitFor(
      async () =>
        (await readSyncStatus(runtime)).collections.find((c) => c.collection === 'products')!.drift > 0,
      { message: 'status to show the unfinished write as drift' },
    );
    // … and the workers repair it.
    const workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
    try {
      await inSync();
    } finally {
      await workers.stop();
    }
  });
});
