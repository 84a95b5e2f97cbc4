import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { silentLogger } from '../src/logger.js';
import { scanBuckets } from '../src/reconcile/store-reader.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { ID_BUCKETS } from '../src/stores/id-bucket.js';
import { Applier } from '../src/sync/applier.js';
import type { ChangeEvent } from '../src/sync/change-event.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Issue 11, the interleaving of chaos run 14 on LanceDB (no foreign key to the source either):
 * applier A reads a row and is slow to write it; meanwhile the row is deleted and B applies the
 * key-only delete (CDC under the default replica identity), which finds nothing to remove yet.
 * Then A's write lands, and must not stay. A is held deterministically inside its embedding
 * call, after its source read and before its store write: the embedding API is the fake
 * OpenAI server, which answers A's request only when the test releases it.
 */
describe('a write that lands after its row was deleted leaves no record (LanceDB)', () => {
  let testDb: TestDatabase;
  let dataDir: string;
  let embeddings: FakeEmbeddingServer;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('vanished_row_lancedb');
    dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-vanished-'));
    embeddings = new FakeEmbeddingServer({ dimensions: 16 });
    const baseUrl = await embeddings.start();
    await createProductsTable(testDb.db);
    const base = productsConfigWith(testDb);
    runtime = await openProductsRuntime(testDb, {
      config: parseConfig({
        ...JSON.parse(JSON.stringify(base)),
        stores: { main: { provider: 'lancedb', dataDir } },
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
      }),
    });
  });
  after(async () => {
    await runtime?.close();
    await embeddings?.stop();
    await testDb?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function recordsOf(id: string): Promise<Array<{ tenant: string; version: number }>> {
    const target = runtime.activeTarget('products');
    const found: Array<{ tenant: string; version: number }> = [];
    for await (const page of scanBuckets(target.store, target.spec, 0, ID_BUCKETS - 1, { pageSize: 500 }))
      for (const record of page)
        if (record.id === id) found.push({ tenant: record.tenant, version: record.version });
    return found;
  }

  const event = (id: string, op: 'upsert' | 'delete', tenant: string | null, version: number | null) =>
    ({
      eventId: `${op}-${id}-${version}`,
      collection: 'products',
      tenant,
      sourceId: id,
      op,
      sourceVersion: version,
    }) satisfies ChangeEvent;

  const versionOf = async (id: string) =>
    Number(
      (
        await testDb.db.query<{ version: string }>(
          'SELECT version::text FROM products WHERE article_id = $1',
          [id],
        )
      ).rows[0]!.version,
    );

  it('the late write is found gone from the source and removed at its version', async () => {
    const [product] = products(1, 812);
    const id = 'vanish-lance-1';
    await insertProducts(testDb.db, 't1', [{ ...product!, article_id: id }]);
    const version = await versionOf(id);

    const release = embeddings.holdNext();
    const seen = embeddings.requests.length;
    const slowWrite = new Applier(runtime, silentLogger).apply([event(id, 'upsert', 't1', version)]);
    try {
      await waitFor(() => embeddings.requests.length > seen, { message: "A's embedding request" });
      await testDb.db.query('DELETE FROM products WHERE article_id = $1', [id]);
      const deleted = await new Applier(runtime, silentLogger).apply([event(id, 'delete', null, null)]);
      assert.equal(deleted.outcomes.get(`delete-${id}-null`)?.status, 'applied');
    } finally {
      release();
    }
    const late = await slowWrite;
    assert.notEqual(late.outcomes.get(`upsert-${id}-${version}`)?.status, 'failed');
    assert.deepEqual(await recordsOf(id), [], 'no record of the deleted row remains');

    // The id can come back in another tenant, and is indexed again.
    await insertProducts(testDb.db, 't2', [{ ...product!, article_id: id }]);
    const back = await versionOf(id);
    await new Applier(runtime, silentLogger).apply([event(id, 'upsert', 't2', back)]);
    assert.deepEqual(await recordsOf(id), [{ tenant: 't2', version: back }]);
  });
});
