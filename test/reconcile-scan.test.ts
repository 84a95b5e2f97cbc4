import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../src/db/migrator.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { GroupChecksums } from '../src/reconcile/group-checksums.js';
import { readStoreChecksums, scanBuckets } from '../src/reconcile/store-reader.js';
import type { IndexTarget, VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { ID_BUCKETS, idBucket } from '../src/stores/id-bucket.js';
import type { StoredRecordMeta, VectorStore } from '../src/stores/vector-store.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** The store's scan with its optional bucketChecksums hidden: what a store without the fast path offers. */
function withoutChecksums(store: VectorStore): VectorStore {
  return {
    kind: `${store.kind}-scan-only`,
    capabilities: store.capabilities,
    ensureIndex: (spec) => store.ensureIndex(spec),
    upsert: (spec, documents) => store.upsert(spec, documents),
    delete: (spec, requests) => store.delete(spec, requests),
    truncate: (spec) => store.truncate(spec),
    search: (spec, request) => store.search(spec, request),
    scan: (spec, request) => store.scan(spec, request),
    count: (spec, tenant) => store.count(spec, tenant),
    drop: (spec) => store.drop(spec),
    ping: () => store.ping(),
    close: async () => undefined,
  };
}

describe('pgvector scan contract: id buckets, bucket-range pages, checksums', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let target: IndexTarget;
  const unicodeIds = ['café-1', '日本語-2', 'naïve 3', 'emoji-😀', 'x'];

  const scanAll = async (from: number, to: number, tenant?: string, limit = 7) => {
    const records: StoredRecordMeta[] = [];
    for await (const page of scanBuckets(target.store, target.spec, from, to, {
      pageSize: limit,
      ...(tenant ? { tenant } : {}),
    })) {
      assert.ok(page.length <= limit);
      records.push(...page);
    }
    return records;
  };

  before(async () => {
    testDb = await createTestDatabase('reconcile_scan');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    target = runtime.activeTarget('products');
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    const unicode = products(unicodeIds.length, 71).map((item, n) => ({
      ...item,
      article_id: unicodeIds[n]!,
    }));
    await insertProducts(testDb.db, 'acme', [...products(120, 72), ...unicode]);
    await insertProducts(testDb.db, 'globex', products(60, 73));
    await waitFor(() => outboxDrained(testDb.db));
    await worker.stop();
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('stores the bucket the contract defines: the first 16 bits of md5(id), in SQL and in TypeScript alike', async () => {
    const rows = await testDb.db.query<{ id: string; bucket: number }>(
      `SELECT id::text AS id, bucket FROM vectorsync."${target.record.location}"`,
    );
    assert.equal(rows.rows.length, 185);
    for (const row of rows.rows) assert.equal(row.bucket, idBucket(row.id), `bucket of ${row.id}`);
    for (const id of unicodeIds) assert.ok(rows.rows.some((row) => row.id === id));
    assert.equal(idBucket('x'), 0x9dd4, 'md5("x") starts 9dd4');
    assert.ok(rows.rows.every((row) => row.bucket >= 0 && row.bucket < ID_BUCKETS));
  });

  it('pages through a bucket range returning every record exactly once, and only that range', async () => {
    const all = await scanAll(0, ID_BUCKETS - 1);
    assert.equal(all.length, 185);
    assert.equal(new Set(all.map((record) => record.id)).size, 185, 'no record twice across pages');
    const indexed = await indexRows(testDb.db, target.record.location);
    for (const record of all) {
      const row = indexed.get(record.id)!;
      assert.deepEqual(
        { tenant: record.tenant, version: record.version, contentHash: record.contentHash },
        { tenant: row.tenant, version: row.version, contentHash: row.contentHash },
      );
    }
    const [from, to] = [20_000, 41_000];
    const part = await scanAll(from, to, undefined, 3);
    const expected = all.filter((record) => idBucket(record.id) >= from && idBucket(record.id) <= to);
    assert.ok(expected.length > 10);
    assert.deepEqual(part.map((record) => record.id).sort(), expected.map((record) => record.id).sort());
    const single = idBucket(all[0]!.id);
    assert.ok((await scanAll(single, single)).some((record) => record.id === all[0]!.id));
  });

  it('filters by tenant', async () => {
    const globex = await scanAll(0, ID_BUCKETS - 1, 'globex');
    assert.equal(globex.length, 60);
    assert.ok(globex.every((record) => record.tenant === 'globex'));
  });

  it('computes bucketChecksums in the store equal to checksums folded from scan, at any grouping', async () => {
    for (const bits of [4, 10, 16]) {
      const inStore = await readStoreChecksums(target.store, target.spec, bits, { pageSize: 50 });
      const fromScan = await readStoreChecksums(withoutChecksums(target.store), target.spec, bits, {
        pageSize: 50,
      });
      assert.equal(inStore.computedBy, 'store');
      assert.equal(fromScan.computedBy, 'scan');
      assert.deepEqual(inStore.checksums.differingGroups(fromScan.checksums), [], `${bits} bits`);
      assert.equal(inStore.checksums.total(), 185);
    }
    const rows = await target.store.bucketChecksums!(target.spec, { bucketBits: 4, tenant: 'acme' });
    assert.ok(rows.every((row) => /^[0-9a-f]{16}$/.test(row.checksum) && row.bucket >= 0 && row.bucket < 16));
    assert.equal(
      rows.reduce((sum, row) => sum + row.count, 0),
      125,
    );
  });

  it('never returns tombstones from scan, count or bucketChecksums', async () => {
    const victim = (await scanAll(0, ID_BUCKETS - 1, 'globex'))[0]!;
    const [result] = await target.store.delete(target.spec, [
      { tenant: 'globex', id: victim.id, version: victim.version },
    ]);
    assert.equal(result?.outcome, 'applied');
    const tomb = await testDb.db.query(
      `SELECT 1 FROM vectorsync."${target.record.location}_tomb" WHERE id = $1`,
      [victim.id],
    );
    assert.equal(tomb.rowCount, 1);
    assert.ok(!(await scanAll(0, ID_BUCKETS - 1)).some((record) => record.id === victim.id));
    assert.equal(await target.store.count(target.spec), 184);
    const checksums = new GroupChecksums(16);
    for (const row of await target.store.bucketChecksums!(target.spec, { bucketBits: 16 }))
      checksums.setGroup(row);
    assert.equal(checksums.total(), 184);
  });

  it('rejects bucket ranges outside the contract and cursors it did not issue, naming the value', async () => {
    const reject = async (request: Parameters<VectorStore['scan']>[1], pattern: RegExp) => {
      await assert.rejects(target.store.scan(target.spec, request), (error: unknown) => {
        assert.ok(isVectorsyncError(error, ErrorCode.InvalidRequest), String(error));
        assert.match((error as Error).message, pattern);
        return true;
      });
    };
    await reject({ bucketFrom: 0, bucketTo: ID_BUCKETS, limit: 10 }, /0\.\.65536/);
    await reject({ bucketFrom: 5, bucketTo: 4, limit: 10 }, /5\.\.4/);
    await reject({ bucketFrom: 0, bucketTo: 10, limit: 0 }, /limit 0/);
    await reject({ bucketFrom: 0, bucketTo: 10, limit: 10, cursor: 'nonsense' }, /"nonsense"/);
    await assert.rejects(target.store.bucketChecksums!(target.spec, { bucketBits: 17 }), /bucketBits 17/);
  });

  it('tells how to upgrade an index table that predates buckets, and setup adds them', async () => {
    const location = target.record.location;
    await testDb.db.query(`ALTER TABLE vectorsync."${location}" DROP COLUMN bucket`);
    await assert.rejects(
      target.store.scan(target.spec, { bucketFrom: 0, bucketTo: 10, limit: 10 }),
      (error: unknown) =>
        isVectorsyncError(error, ErrorCode.IndexNotFound) &&
        /vectorsync setup/.test((error as Error).message),
    );
    await target.store.ensureIndex(target.spec);
    assert.equal((await scanAll(0, ID_BUCKETS - 1)).length, 184);
  });

  it('migration 3 adds buckets to the index tables of an upgraded database', async () => {
    const location = target.record.location;
    // The database as version 2 left it: no bucket column, no reconcile_runs, migration 3 not recorded.
    await testDb.db.query(`ALTER TABLE vectorsync."${location}" DROP COLUMN bucket`);
    await testDb.db.query('DROP TABLE vectorsync.reconcile_runs');
    await testDb.db.query('DELETE FROM vectorsync.migrations WHERE id = 3');
    const { applied } = await migrate(testDb.db);
    assert.deepEqual(
      applied.map((migration) => migration.id),
      [3],
    );
    assert.equal((await scanAll(0, ID_BUCKETS - 1)).length, 184);
    const index = await testDb.db.query(
      `SELECT 1 FROM pg_indexes WHERE schemaname = 'vectorsync' AND indexname = $1`,
      [`${location}_bucket`],
    );
    assert.equal(index.rowCount, 1);
  });
});
