import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listOperations, runningOperations } from '../src/indexops/operation-history.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

// The history query selects id::text; ordering must still be numeric (9 before 10), or paging
// with `before` skips and repeats operations once there are ten of them.
describe('index operation history order', () => {
  let testDb: TestDatabase;

  before(async () => {
    testDb = await createTestDatabase('index_ops_history');
    await testDb.db.query(
      `INSERT INTO vectorsync.index_operations (collection, kind, method, requested_by, owner, state)
       SELECT 'products', 'build', 'hnsw', 'test', 'test', 'succeeded' FROM generate_series(1, 23)`,
    );
    // One running operation per collection, with ids whose text order differs from their numeric order.
    await testDb.db.query(
      `INSERT INTO vectorsync.index_operations (id, collection, kind, method, requested_by, owner, state)
       SELECT n, 'other_' || n, 'build', 'hnsw', 'test', 'test', 'running' FROM unnest(ARRAY[1000, 500, 100]) n`,
    );
  });

  after(async () => {
    await testDb?.drop();
  });

  it('lists operations newest first by number, and pages without gaps or repeats', async () => {
    const first = await listOperations(testDb.db, { collection: 'products', limit: 10 });
    const ids = first.map((operation) => Number(operation.id));
    assert.deepEqual(ids, [23, 22, 21, 20, 19, 18, 17, 16, 15, 14]);
    const seen = [...ids];
    let before = ids.at(-1);
    while (before !== undefined) {
      const page = await listOperations(testDb.db, { collection: 'products', limit: 10, beforeId: before });
      seen.push(...page.map((operation) => Number(operation.id)));
      before = page.length === 10 ? Number(page.at(-1)!.id) : undefined;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 23 }, (_, i) => 23 - i),
    );
  });

  it('lists running operations oldest first by number', async () => {
    const running = await runningOperations(testDb.db);
    assert.deepEqual(
      running.map((operation) => Number(operation.id)),
      [100, 500, 1000],
    );
  });
});
