import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimEvents, rescueAbandonedEvents } from '../src/outbox/outbox-queue.js';
import { registerWorker } from '../src/sync/worker-registry.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/**
 * Found by the fault-injection suite (run 10, cdc / lancedb seed 1782760839): three backfill
 * events were set aside as WORKER_LOST because outside kills of busy workers landed while they
 * were held, the first time as part of a batch. A death during a batch counts for none of its
 * events; only deaths while an event is processed alone count against it.
 */
describe('outbox: which worker deaths count against an event', () => {
  let testDb: TestDatabase;

  before(async () => {
    testDb = await createTestDatabase('outbox_crash_count');
  });

  after(async () => {
    await testDb.drop();
  });

  const dies = async (workerId: string) =>
    testDb.db.query(`UPDATE vectorsync.workers SET heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [
      workerId,
    ]);
  const states = async () =>
    (
      await testDb.db.query<{ source_id: string; status: string; crashes: number; code: string | null }>(
        `SELECT source_id, status, crashes, last_error_code AS code FROM vectorsync.outbox ORDER BY source_id`,
      )
    ).rows;

  it('a death during a batch counts for none of its events; a death while alone does', async () => {
    await testDb.db.query(
      `INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version, origin)
       SELECT 'items', 'acme', 'row-' || n, 'upsert', n, 'trigger' FROM generate_series(1, 3) n`,
    );
    const worker = (id: string) =>
      registerWorker(testDb.db, { id, hostname: 'test', pid: 1, collections: ['items'] });

    await worker('batch-holder');
    const batch = await claimEvents(testDb.db, {
      workerId: 'batch-holder',
      collections: ['items'],
      limit: 10,
    });
    assert.equal(batch.length, 3);
    await dies('batch-holder');
    // maxCrashes 1: one death of its own sets an event aside.
    assert.equal(await rescueAbandonedEvents(testDb.db, 1000, 1), 3);
    assert.deepEqual(
      (await states()).map((row) => [row.status, row.crashes]),
      [
        ['pending', 1],
        ['pending', 1],
        ['pending', 1],
      ],
      'the batch death made them suspects, applied alone, and set none aside',
    );

    await worker('alone-holder');
    const alone = await claimEvents(testDb.db, {
      workerId: 'alone-holder',
      collections: ['items'],
      limit: 10,
    });
    assert.equal(alone.length, 1, 'a suspect is claimed alone');
    await dies('alone-holder');
    await rescueAbandonedEvents(testDb.db, 1000, 1);
    const after = await states();
    const victim = after.find((row) => row.source_id === alone[0]!.sourceId)!;
    assert.deepEqual([victim.status, victim.code], ['failed', 'WORKER_LOST']);
    assert.equal(after.filter((row) => row.status === 'pending').length, 2);
  });
});
