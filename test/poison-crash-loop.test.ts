import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import {
  createProductsTable,
  indexRows,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';
import { startWorkerProcess } from './helpers/worker-process.js';

/**
 * Issue 11, defect 4: a change whose processing kills its worker must not be claimed (or
 * resent) forever. Here the "poison" row's index write blocks on a lock the test holds, and the
 * test kills the worker process each time it is stuck on it: a deterministic stand-in for a
 * document that crashes or hangs whatever process touches it. After sync.maxCrashes the change
 * ends failed with WORKER_LOST, and every other change (including its batch-mates) is applied.
 */
const POISON_LOCK = 4242;

for (const mode of ['outbox', 'cdc'] as const) {
  describe(`a change that kills every ${mode === 'cdc' ? 'CDC consumer' : 'worker'} that applies it`, () => {
    let testDb: TestDatabase;
    let runtime: VectorsyncRuntime;
    let config: ResolvedConfig;
    let lockHolder: pg.Client;

    before(async () => {
      testDb = await createTestDatabase(`poison_${mode}`);
      await createProductsTable(testDb.db);
      config = productsConfigWith(testDb, {
        mode,
        sync: { batchSize: 50, concurrency: 1, maxCrashes: 3 },
        cdc: { batchSize: 50 },
      });
      runtime = await openProductsRuntime(testDb, { config });
      const location = runtime.activeTarget('products').record.location;
      await testDb.db.query(`
        CREATE FUNCTION public.block_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.id = 'poison' THEN PERFORM pg_advisory_xact_lock_shared(${POISON_LOCK}); END IF; RETURN NEW; END $$;
        CREATE TRIGGER block_poison BEFORE INSERT OR UPDATE ON vectorsync."${location}"
          FOR EACH ROW EXECUTE FUNCTION public.block_poison();`);
      lockHolder = new pg.Client({ connectionString: testDb.url, application_name: 'poison-lock' });
      await lockHolder.connect();
      await lockHolder.query('SELECT pg_advisory_lock($1)', [POISON_LOCK]);
    });
    after(async () => {
      await lockHolder.end();
      await runtime.close();
      await testDb.drop();
    });

    /** Backends stuck writing the poison row (only a worker's index write takes that lock). */
    async function stuckBackends(): Promise<number[]> {
      const result = await testDb.db.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
        [POISON_LOCK],
      );
      return result.rows.map((row) => row.pid);
    }

    async function poisonStatus(): Promise<{ status: string; code: string | null } | undefined> {
      const result = await testDb.db.query<{ status: string; last_error_code: string | null }>(
        `SELECT status, last_error_code FROM vectorsync.outbox WHERE source_id = 'poison' AND status = 'failed'`,
      );
      const row = result.rows[0];
      return row ? { status: row.status, code: row.last_error_code } : undefined;
    }

    it('ends failed with WORKER_LOST after sync.maxCrashes, and everything else is applied', async () => {
      const location = runtime.activeTarget('products').record.location;
      const items = products(20, 91).map((item, i) => ({
        ...item,
        article_id: i === 7 ? 'poison' : `ok-${i}`,
      }));
      await insertProducts(testDb.db, 'acme', items);

      let kills = 0;
      while (!(await poisonStatus())) {
        assert.ok(kills <= config.sync.maxCrashes + 1, `still not set aside after ${kills} crashes`);
        const worker = await startWorkerProcess(config);
        const outcome = await waitFor(
          async () =>
            (await stuckBackends()).length > 0 ? 'stuck' : (await poisonStatus()) ? 'failed' : undefined,
          {
            timeoutMs: 30_000,
            message: () => `the worker to reach the poison row; output: ${worker.output()}`,
          },
        );
        if (outcome === 'stuck') {
          worker.child.kill('SIGKILL');
          await worker.exited;
          kills++;
          // The server notices the dead client only when the backend next talks to it.
          const orphans = await stuckBackends();
          for (const pid of orphans) await testDb.db.query('SELECT pg_terminate_backend($1)', [pid]);
          // Termination is asynchronous: a backend still waiting when the next worker starts would
          // pass for that worker being stuck, and it would be killed before reaching the poison.
          await waitFor(
            async () =>
              (await testDb.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [orphans]))
                .rowCount === 0,
            { message: "the dead worker's backends to end" },
          );
          continue;
        }
        // The survivor set it aside; it must now apply everything else and stay up.
        try {
          await waitFor(async () => (await indexRows(testDb.db, location)).size === 19, {
            timeoutMs: 30_000,
            message: () => `the other rows to be indexed; output: ${worker.output()}`,
          });
        } finally {
          worker.child.kill('SIGTERM');
          await worker.exited;
        }
      }
      // The first death is during a batch (the outbox worker's claim, the CDC consumer's 20
      // changes): it counts for none of them, it only makes them be applied one at a time. Then
      // every death is the poison's own: maxCrashes of those set it aside, in both modes.
      assert.equal(kills, config.sync.maxCrashes + 1, 'each crash was counted once, against the poison only');
      assert.deepEqual(await poisonStatus(), { status: 'failed', code: 'WORKER_LOST' });
      const indexed = await indexRows(testDb.db, location);
      assert.equal(indexed.size, 19);
      assert.ok(!indexed.has('poison'));

      const status = await readSyncStatus(runtime);
      const products_ = status.collections.find((collection) => collection.collection === 'products');
      assert.equal(products_?.failed, 1, 'the poison shows in status');
      const open = await testDb.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE status IN ('pending', 'processing')`,
      );
      assert.equal(open.rows[0]!.n, 0, 'nothing else is left waiting');
    });
  });
}
