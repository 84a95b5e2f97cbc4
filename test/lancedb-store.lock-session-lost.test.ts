import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { hashCollectionLock } from '../src/db/collection-lock.js';
import type { PgDatabase } from '../src/db/pg-database.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import type { LancedbStoreConfig } from '../src/stores/lancedb/lancedb-config.js';
import { LancedbStore } from '../src/stores/lancedb/lancedb-store.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';
import { contractSpec, doc } from './store-contract/store-contract.js';

/**
 * LanceDB writes hold an advisory lock in Postgres. Found by the fault-injection suite (run 10,
 * outbox+bus / lancedb): a Postgres restart during a write was STORE_FAILED, and the changes in
 * it were set aside as failed for good, when the write only needs to be retried.
 */
describe('LanceDB store: the Postgres session of its write lock is lost', () => {
  let testDb: TestDatabase;
  let lockDb: PgDatabase;
  let blocker: PgDatabase;
  let dataDir: string;
  let store: LancedbStore;
  const spec = contractSpec('idx_lock_lost');

  before(async () => {
    testDb = await createTestDatabase('lancedb_lock_lost');
    lockDb = testDb.connect({ applicationName: 'vectorsync-lance-lock' });
    blocker = testDb.connect({ max: 1, applicationName: 'vectorsync-lock-blocker' });
    dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-lancedb-lock-'));
    const config = parseConfig({
      embedders: {},
      collections: {},
      stores: { lance: { provider: 'lancedb', dataDir } },
    }).stores.lance as LancedbStoreConfig;
    store = new LancedbStore(config, silentLogger, lockDb);
    await store.ensureIndex(spec);
  });

  after(async () => {
    await store.close();
    await blocker.close();
    await lockDb.close();
    await testDb.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is a transient STORE_UNAVAILABLE (retried), not a failed change; the next write succeeds', async () => {
    const lockKey = hashCollectionLock(`lancedb:${spec.location}`);
    await blocker.query('SELECT pg_advisory_lock($1)', [lockKey]);
    const write = store.upsert(spec, [doc({ id: 'a', tenant: 'acme' })]);
    const outcome = write.then(
      () => undefined,
      (error: unknown) => error,
    );
    // The store's session waits for the lock: end it, as a Postgres restart would.
    const waiting = await waitFor(
      async () =>
        (
          await testDb.db.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
              WHERE application_name = 'vectorsync-lance-lock' AND wait_event_type = 'Lock'`,
          )
        ).rows[0],
      { message: 'the store to wait for its write lock' },
    );
    await testDb.db.query('SELECT pg_terminate_backend($1)', [waiting.pid]);
    const error = await outcome;
    assert.ok(isVectorsyncError(error), String(error));
    assert.equal(error.code, ErrorCode.StoreUnavailable, error.message);
    assert.equal(error.transient, true);
    assert.doesNotMatch(error.message, /terminating connection|administrator command/);

    await blocker.query('SELECT pg_advisory_unlock($1)', [lockKey]);
    await store.upsert(spec, [doc({ id: 'a', tenant: 'acme' })]);
    assert.equal(await store.count(spec, 'acme'), 1);
  });
});
