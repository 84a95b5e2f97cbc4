import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertMigrated, loadMigrations, migrate } from '../src/db/migrator.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

describe('migrations', () => {
  let empty: TestDatabase;
  before(async () => {
    empty = await createTestDatabase('migrator', { empty: true });
  });
  after(async () => {
    await empty.drop();
  });

  it('refuse to start on an unmigrated database, naming the next migration', async () => {
    await assert.rejects(assertMigrated(empty.db), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.MigrationsPending));
      assert.match(error.message, /000*1_initial|1_initial/);
      return true;
    });
  });

  it('apply once even when several processes migrate at the same time', async () => {
    const processes = [empty.connect(), empty.connect(), empty.connect()];
    const results = await Promise.all(processes.map((db) => migrate(db)));
    const knownIds = (await loadMigrations()).map((migration) => migration.id);
    const known = knownIds.length;
    const appliedCounts = results.map((result) => result.applied.length);
    assert.equal(
      appliedCounts.reduce((sum, count) => sum + count, 0),
      known,
      'each migration applied exactly once',
    );
    const recorded = await empty.db.query<{ id: number }>('SELECT id FROM vectorsync.migrations ORDER BY id');
    assert.deepEqual(
      recorded.rows.map((row) => row.id),
      knownIds,
    );
    await assertMigrated(empty.db);
    for (const db of processes) await db.close();
  });

  it('are idempotent: a second run applies nothing', async () => {
    const result = await migrate(empty.db);
    assert.deepEqual(result.applied, []);
  });

  it('refuse to run against a database that is ahead by a breaking migration', async () => {
    await empty.db.query(
      `INSERT INTO vectorsync.migrations (id, name, breaking) VALUES (999, 'from_the_future', true)`,
    );
    await assert.rejects(migrate(empty.db), (error) => isVectorsyncError(error, ErrorCode.MigrationAhead));
    await assert.rejects(assertMigrated(empty.db), (error) =>
      isVectorsyncError(error, ErrorCode.MigrationAhead),
    );
    await empty.db.query('DELETE FROM vectorsync.migrations WHERE id = 999');
  });
});
