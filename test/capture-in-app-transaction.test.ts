import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { drizzle } from 'drizzle-orm/node-postgres';
import { numeric, pgTable, text, varchar } from 'drizzle-orm/pg-core';
import { type Generated, Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { isOutboxCaptureInstalled, removeOutboxCapture } from '../src/capture/outbox/outbox-capture.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { enqueueChange } from '../src/outbox/app-enqueue.js';
import type { TransactionClient } from '../src/outbox/transaction-client.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  indexRows,
  openProductsRuntime,
  outboxDrained,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** One product written by the application, named after a word no other row contains. */
interface AppWrite {
  id: string;
  tenant: string;
  word: string;
  /** Also call enqueueChange() with the library's transaction handle. */
  enqueue: boolean;
  /** End the transaction with a rollback instead of a commit. */
  rollBack: boolean;
}

interface AppLibrary {
  name: string;
  /** Inserts the row with the library's own API inside one of its transactions. */
  write(pool: pg.Pool, write: AppWrite): Promise<void>;
}

class ApplicationAbort extends Error {}

const drizzleProducts = pgTable('products', {
  articleId: varchar('article_id', { length: 20 }).primaryKey(),
  tenantId: text('tenant_id').notNull(),
  name: varchar('name', { length: 255 }).notNull(),
  description: text('description'),
  productType: varchar('product_type', { length: 100 }),
  price: numeric('price', { precision: 10, scale: 2 }),
});

interface KyselySchema {
  products: {
    article_id: string;
    tenant_id: string;
    name: string;
    description: string | null;
    product_type: string | null;
    price: string | null;
    version: Generated<string>;
  };
}

const enqueueFor = (write: AppWrite) => ({ collection: 'products', tenant: write.tenant, id: write.id });

const libraries: AppLibrary[] = [
  {
    name: 'node-postgres PoolClient',
    async write(pool, write) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO products (article_id, tenant_id, name, description, product_type, price)
           VALUES ($1, $2, $3, $4, 'Parka', 99.5)`,
          [write.id, write.tenant, `${write.word} parka`, `A warm ${write.word} parka`],
        );
        if (write.enqueue) await enqueueChange(client, enqueueFor(write));
        await client.query(write.rollBack ? 'ROLLBACK' : 'COMMIT');
      } finally {
        client.release();
      }
    },
  },
  {
    name: 'Kysely Transaction',
    async write(pool, write) {
      // Kysely.destroy() would end the pool, which the test database owns and closes.
      const db = new Kysely<KyselySchema>({ dialect: new PostgresDialect({ pool }) });
      await db
        .transaction()
        .execute(async (trx) => {
          await trx
            .insertInto('products')
            .values({
              article_id: write.id,
              tenant_id: write.tenant,
              name: `${write.word} parka`,
              description: `A warm ${write.word} parka`,
              product_type: 'Parka',
              price: '99.50',
            })
            .execute();
          if (write.enqueue) await enqueueChange(trx, enqueueFor(write));
          if (write.rollBack) throw new ApplicationAbort();
        })
        .catch((error: unknown) => {
          if (!(error instanceof ApplicationAbort)) throw error;
        });
    },
  },
  {
    name: 'Drizzle transaction',
    async write(pool, write) {
      const db = drizzle({ client: pool });
      await db
        .transaction(async (tx) => {
          await tx.insert(drizzleProducts).values({
            articleId: write.id,
            tenantId: write.tenant,
            name: `${write.word} parka`,
            description: `A warm ${write.word} parka`,
            productType: 'Parka',
            price: '99.50',
          });
          if (write.enqueue) await enqueueChange(tx, enqueueFor(write));
          if (write.rollBack) throw new ApplicationAbort();
        })
        .catch((error: unknown) => {
          if (!(error instanceof ApplicationAbort)) throw error;
        });
    },
  },
];

interface Fixture {
  testDb: TestDatabase;
  runtime: VectorsyncRuntime;
  worker: OutboxWorker;
  appPool: pg.Pool;
  location: string;
}

async function openFixture(label: string): Promise<Fixture> {
  const testDb = await createTestDatabase(label);
  await createProductsTable(testDb.db);
  const runtime = await openProductsRuntime(testDb);
  const worker = new OutboxWorker({ runtime });
  await worker.start();
  const appPool = testDb.connect({ applicationName: 'the-application' }).pool;
  return { testDb, runtime, worker, appPool, location: runtime.activeTarget('products').record.location };
}

async function closeFixture(fixture: Fixture): Promise<void> {
  await fixture.worker.stop();
  await fixture.runtime.close();
  await fixture.testDb.drop();
}

async function outboxEvents(fixture: Fixture, id: string): Promise<Array<{ origin: string }>> {
  const result = await fixture.testDb.db.query<{ origin: string }>(
    'SELECT origin FROM vectorsync.outbox WHERE source_id = $1 ORDER BY id',
    [id],
  );
  return result.rows;
}

async function searchIds(fixture: Fixture, tenant: string, word: string): Promise<string[]> {
  const result = await new SearchService(fixture.runtime).search({
    collection: 'products',
    tenant,
    query: word,
    mode: 'keyword',
    k: 5,
  });
  return result.hits.map((hit) => hit.id);
}

/**
 * Rolls one write back, commits another, waits for the committed one to be applied and then
 * checks that the rolled-back one left no event and no index record (the worker had its chance).
 */
async function assertCommitSearchableRollbackLeavesNothing(
  fixture: Fixture,
  library: AppLibrary,
  tag: string,
  enqueue: boolean,
): Promise<{ committed: AppWrite; rolledBack: AppWrite }> {
  const rolledBack: AppWrite = {
    id: `rb-${tag}`,
    tenant: 'acme',
    word: `zorblax${tag}`,
    enqueue,
    rollBack: true,
  };
  const committed: AppWrite = {
    id: `ok-${tag}`,
    tenant: 'acme',
    word: `quokka${tag}`,
    enqueue,
    rollBack: false,
  };
  await library.write(fixture.appPool, rolledBack);
  await library.write(fixture.appPool, committed);

  await waitFor(
    async () =>
      (await outboxDrained(fixture.testDb.db)) && (await outboxEvents(fixture, committed.id)).length > 0,
    {
      message: `the ${library.name} commit to be applied`,
    },
  );
  assert.deepEqual(
    await searchIds(fixture, 'acme', committed.word),
    [committed.id],
    'the commit is searchable',
  );
  assert.deepEqual(await searchIds(fixture, 'globex', committed.word), [], 'and only in its tenant');

  assert.deepEqual(await outboxEvents(fixture, rolledBack.id), [], 'no outbox event for the rollback');
  assert.equal(
    (await indexRows(fixture.testDb.db, fixture.location)).has(rolledBack.id),
    false,
    'no index record',
  );
  assert.deepEqual(await searchIds(fixture, 'acme', rolledBack.word), []);
  const source = await fixture.testDb.db.query('SELECT 1 FROM products WHERE article_id = $1', [
    rolledBack.id,
  ]);
  assert.equal(source.rowCount, 0, 'the rollback really rolled back');
  return { committed, rolledBack };
}

describe('capture inside the application transaction: outbox triggers', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await openFixture('capture_app_triggers');
  });
  after(() => closeFixture(fixture));

  libraries.forEach((library, index) => {
    it(`${library.name}: a commit becomes searchable, a rollback leaves nothing`, async () => {
      const { committed } = await assertCommitSearchableRollbackLeavesNothing(
        fixture,
        library,
        `t${index}`,
        false,
      );
      assert.deepEqual(
        (await outboxEvents(fixture, committed.id)).map((event) => event.origin),
        ['trigger'],
      );
    });
  });
});

describe('capture inside the application transaction: enqueueChange() without triggers', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await openFixture('capture_app_enqueue');
    // A table whose owner does not want triggers: enqueueChange() is then the only capture.
    const definition = fixture.runtime.collection('products').definition;
    await fixture.runtime.db.transaction((tx) => removeOutboxCapture(tx, definition));
    assert.equal(await isOutboxCaptureInstalled(fixture.runtime.db, definition), false);
  });
  after(() => closeFixture(fixture));

  libraries.forEach((library, index) => {
    it(`${library.name}: a commit becomes searchable, a rollback leaves nothing`, async () => {
      const { committed } = await assertCommitSearchableRollbackLeavesNothing(
        fixture,
        library,
        `e${index}`,
        true,
      );
      assert.deepEqual(
        (await outboxEvents(fixture, committed.id)).map((event) => event.origin),
        ['app'],
      );
    });
  });

  it('enqueues a delete with its version through each handle', async () => {
    const write: AppWrite = {
      id: 'del-1',
      tenant: 'acme',
      word: 'wombatdelete',
      enqueue: true,
      rollBack: false,
    };
    await libraries[0]!.write(fixture.appPool, write);
    await waitFor(async () => (await indexRows(fixture.testDb.db, fixture.location)).has(write.id));
    const kysely = new Kysely<KyselySchema>({ dialect: new PostgresDialect({ pool: fixture.appPool }) });
    let version = 0;
    await kysely.transaction().execute(async (trx) => {
      const deleted = await trx
        .deleteFrom('products')
        .where('article_id', '=', write.id)
        .returning('version')
        .executeTakeFirstOrThrow();
      version = Number(deleted.version);
      await enqueueChange(trx, { ...enqueueFor(write), op: 'delete', version });
    });
    await waitFor(async () => !(await indexRows(fixture.testDb.db, fixture.location)).has(write.id), {
      message: 'the enqueued delete to be applied',
    });
    const events = await fixture.testDb.db.query<{ op: string; source_version: string | null }>(
      'SELECT op, source_version::text FROM vectorsync.outbox WHERE source_id = $1 ORDER BY id',
      [write.id],
    );
    assert.deepEqual(events.rows.at(-1), { op: 'delete', source_version: String(version) });
  });

  it('passes quotes and backslashes through the text-only (Drizzle) path unchanged', async () => {
    const awkward = `o'k\\x"; --`;
    const db = drizzle({ client: fixture.appPool });
    const eventId = await db.transaction((tx) =>
      enqueueChange(tx, { collection: 'products', tenant: awkward, id: awkward }),
    );
    const stored = await fixture.testDb.db.query<{ tenant: string; source_id: string }>(
      'SELECT tenant, source_id FROM vectorsync.outbox WHERE id = $1',
      [eventId],
    );
    assert.deepEqual(stored.rows[0], { tenant: awkward, source_id: awkward });
    await waitFor(() => outboxDrained(fixture.testDb.db), {
      message: 'the event for a missing row to settle',
    });
  });

  it('names an unknown collection, whichever handle carries the call', async () => {
    const drizzleDb = drizzle({ client: fixture.appPool });
    const kysely = new Kysely<KyselySchema>({ dialect: new PostgresDialect({ pool: fixture.appPool }) });
    const request = { collection: 'produkts', tenant: 'acme', id: '1' };
    const unknownCollection = (error: unknown) =>
      isVectorsyncError(error, ErrorCode.UnknownCollection) &&
      /unknown collection "produkts"/.test(error.message);
    await assert.rejects(
      drizzleDb.transaction((tx) => enqueueChange(tx, request)),
      unknownCollection,
    );
    await assert.rejects(
      kysely.transaction().execute((trx) => enqueueChange(trx, request)),
      unknownCollection,
    );
    await assert.rejects(
      fixture.testDb.db.transaction((tx) => enqueueChange(tx, request)),
      unknownCollection,
    );
  });

  it('refuses a value it cannot enqueue, or something that is not a transaction, naming it', async () => {
    const rejectsWith = async (work: Promise<unknown>, code: string, pattern: RegExp) =>
      assert.rejects(work, (error: unknown) => {
        assert.ok(isVectorsyncError(error), String(error));
        assert.equal(error.code, code);
        assert.match(error.message, pattern);
        return true;
      });
    await rejectsWith(
      enqueueChange(fixture.appPool, {
        collection: 'products',
        tenant: 'acme',
        id: '1',
        op: 'merge' as 'upsert',
      }),
      ErrorCode.InvalidFieldValue,
      /"op" must be "upsert" or "delete", got "merge"/,
    );
    await rejectsWith(
      enqueueChange(fixture.appPool, { collection: 'products', tenant: 'acme', id: '1', version: 1.5 }),
      ErrorCode.InvalidFieldValue,
      /"version" must be an integer, got 1.5/,
    );
    await rejectsWith(
      enqueueChange({ begin() {} } as unknown as TransactionClient, {
        collection: 'products',
        tenant: 'acme',
        id: '1',
      }),
      ErrorCode.InvalidRequest,
      /needs the client of your open transaction/,
    );
  });
});
