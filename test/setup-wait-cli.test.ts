import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoConfig } from '../src/demo/demo-schema.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { type CliProcess, startCli } from './helpers/cli-process.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** The exit code, once the command ends; fails (with what it printed) if it never does. */
function exitCode(cli: CliProcess, what: string): Promise<number> {
  return waitFor(() => cli.child.exitCode ?? (cli.child.signalCode ? -1 : undefined), {
    timeoutMs: CHILD_PROCESS_WAIT_MS,
    intervalMs: 100,
    message: () => `${what} to exit; it printed:\n${cli.output().slice(-2000)}`,
  });
}

describe('vectorsync setup --wait (CLI)', () => {
  let testDb: TestDatabase;
  let config: unknown;

  before(async () => {
    testDb = await createTestDatabase('setup_wait_cli');
    await createProductsTable(testDb.db);
    // The newcomer's situation: a table that already has rows, and no worker running yet.
    await insertProducts(testDb.db, 'acme', products(300, 11));
    config = { ...demoConfig({ dimensions: 64 }), databaseUrl: testDb.url, sync: fastSync };
  });

  after(async () => {
    await testDb.drop();
  });

  it('with no worker running, applies the backfill itself and exits', async () => {
    const cli = await startCli(config, ['setup', '--wait']);
    const code = await exitCode(cli, 'setup --wait');
    assert.equal(code, 0, cli.output());
    assert.match(
      cli.output(),
      /no vectorsync worker is running for products: applying the queued events in this process/,
    );
    assert.match(cli.output(), /vectorsync serve/);
    assert.match(cli.output(), /sync: 300 event\(s\) applied/);
    const index = await testDb.db.query<{ location: string }>(
      `SELECT location FROM vectorsync.indexes WHERE collection = 'products' AND state = 'active'`,
    );
    assert.deepEqual(await assertIndexMatchesSource(testDb.db, index.rows[0]!.location), { rows: 300 });
    const workers = await testDb.db.query('SELECT id FROM vectorsync.workers');
    assert.equal(workers.rowCount, 0, 'the workers it ran stopped and deregistered');
  });

  it('refuses --rebuild, naming the blue/green command that replaced it', async () => {
    const cli = await startCli(config, ['setup', '--rebuild', '--collection', 'products']);
    assert.equal(await exitCode(cli, 'setup --rebuild'), 1);
    assert.match(
      cli.output(),
      /INVALID_REQUEST: setup --rebuild is gone.*vectorsync reembed --collection products/s,
    );
  });

  it('leaves the work to a running worker', async () => {
    const runtime = await openProductsRuntime(testDb, { setup: false });
    // A worker process of its own: it follows the index versions setup creates.
    const workers = new SyncWorkers(runtime, runtime.logger);
    let applied = 0;
    workers.outbox.on('batch', (report) => (applied += report.done));
    await workers.start();
    try {
      // No live version left (as after its index was retired by hand): setup builds a new one
      // from the source, and the running worker applies that backfill.
      await testDb.db.query(
        `UPDATE vectorsync.indexes SET state = 'retired', retired_at = now() WHERE collection = 'products'`,
      );
      const cli = await startCli(config, ['setup', '--wait']);
      const code = await exitCode(cli, 'setup --wait');
      assert.equal(code, 0, cli.output());
      assert.match(cli.output(), /sync: 300 event\(s\) applied/);
      assert.doesNotMatch(cli.output(), /no vectorsync worker is running/);
      assert.equal(applied, 300, 'the running worker applied the backfill');
    } finally {
      await workers.stop();
      await runtime.close();
    }
  });
});
