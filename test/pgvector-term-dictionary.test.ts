import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { TermDictionary } from '../src/stores/pgvector/pgvector-terms.js';
import { createProductsTable, openProductsRuntime } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('pgvector BM25 term dictionary under concurrent writers', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('term_dictionary');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    location = runtime.activeTarget('products').record.location;
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('resolves a term that another writer inserts and commits while the lookup waits on it', async () => {
    // Another writer has inserted the new term and not committed yet (found by bench:cdc:
    // concurrent dual-write requests wrote "{308,,90}" as BM25 term ids).
    const other = new pg.Client({ connectionString: testDb.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      const inserted = await other.query<{ id: number }>(
        `INSERT INTO vectorsync."${location}_terms" (term) VALUES ('quasarwave') RETURNING id`,
      );
      const dictionary = new TermDictionary();
      const resolving = dictionary.resolve(testDb.db, location, ['quasarwave', 'nebulight']);
      // The lookup's INSERT … ON CONFLICT waits for the other transaction's row lock.
      await waitFor(
        async () =>
          (
            await testDb.db.query(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%ON CONFLICT (term)%'`,
            )
          ).rowCount,
        { message: 'the term lookup to wait on the uncommitted term' },
      );
      await other.query('COMMIT');
      const ids = await resolving;
      assert.equal(ids.get('quasarwave'), inserted.rows[0]!.id, 'the concurrently committed term has its id');
      assert.equal(typeof ids.get('nebulight'), 'number');
    } finally {
      await other.end();
    }
  });
});
