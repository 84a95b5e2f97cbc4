import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { enqueueRelationSql } from '../src/outbox/enqueue-many.js';
import { OUTBOX_CHANNEL } from '../src/outbox/outbox-channel.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createProductsTable, openProductsRuntime } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

interface EventRow {
  tenant: string;
  source_id: string;
  op: string;
  origin: string;
}

async function eventsSince(db: TestDatabase['db'], afterId: string): Promise<EventRow[]> {
  const result = await db.query<EventRow>(
    `SELECT tenant, source_id, op, origin FROM vectorsync.outbox WHERE id > $1::bigint ORDER BY id`,
    [afterId],
  );
  return result.rows;
}

async function lastEventId(db: TestDatabase['db']): Promise<string> {
  const result = await db.query<{ id: string }>(
    'SELECT coalesce(max(id), 0)::text AS id FROM vectorsync.outbox',
  );
  return result.rows[0]!.id;
}

function sqlStateOf(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

describe('vectorsync.enqueue_many: the one entry point for new outbox events', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('enqueue_many');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
  });

  after(async () => {
    await runtime?.close();
    await testDb?.drop();
  });

  it('a bulk INSERT … SELECT queues one upsert per row and wakes a listener', async () => {
    const listener = new pg.Client({ connectionString: testDb.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(message.payload ?? ''));
    await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    try {
      const from = await lastEventId(testDb.db);
      await testDb.db.query(
        `INSERT INTO products (article_id, tenant_id, name)
         SELECT 'bulk-' || n, 'tenant-' || (n % 3), 'bulk product ' || n FROM generate_series(1, 250) n`,
      );
      const events = await eventsSince(testDb.db, from);
      assert.equal(events.length, 250);
      assert.ok(events.every((event) => event.op === 'upsert' && event.origin === 'trigger'));
      assert.deepEqual(
        new Set(events.map((event) => event.source_id)),
        new Set(Array.from({ length: 250 }, (_, n) => `bulk-${n + 1}`)),
      );
      assert.equal(events.find((event) => event.source_id === 'bulk-4')?.tenant, 'tenant-1');
      await waitFor(() => heard.includes('products'), {
        timeoutMs: 10_000,
        message: 'the outbox notification never came',
      });
    } finally {
      await listener.end();
    }
  });

  it('an UPDATE that moves a row to another tenant deletes the old key and upserts the new one', async () => {
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name) VALUES ('moving', 'acme', 'a lamp')`,
    );
    const from = await lastEventId(testDb.db);
    await testDb.db.query(`UPDATE products SET tenant_id = 'globex' WHERE article_id = 'moving'`);
    const events = await eventsSince(testDb.db, from);
    assert.deepEqual(
      events.map((event) => [event.op, event.tenant, event.source_id]),
      [
        ['delete', 'acme', 'moving'],
        ['upsert', 'globex', 'moving'],
      ],
    );
  });

  it('an UPDATE in place and a DELETE queue one event each, and a TRUNCATE one truncate', async () => {
    const from = await lastEventId(testDb.db);
    await testDb.db.query(`UPDATE products SET name = name || '!' WHERE article_id IN ('bulk-1', 'bulk-2')`);
    await testDb.db.query(`DELETE FROM products WHERE article_id = 'bulk-3'`);
    await testDb.db.query('TRUNCATE products CASCADE');
    const events = await eventsSince(testDb.db, from);
    assert.deepEqual(events.map((event) => `${event.op}:${event.source_id}`).sort(), [
      'delete:bulk-3',
      'truncate:',
      'upsert:bulk-1',
      'upsert:bulk-2',
    ]);
  });

  it('a statement that changes no row queues nothing', async () => {
    const from = await lastEventId(testDb.db);
    await testDb.db.query(`UPDATE products SET name = 'none' WHERE article_id = 'no-such-row'`);
    assert.deepEqual(await eventsSince(testDb.db, from), []);
  });

  it('splits a large relation into calls of at most chunkRows, losing no row', async () => {
    const definition = runtime.collection('products').definition;
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name)
       SELECT 'chunk-' || n, 'acme', 'chunked ' || n FROM generate_series(1, 50) n`,
    );
    const from = await lastEventId(testDb.db);
    const result = await testDb.db.query<{ enqueued: string }>(
      enqueueRelationSql({
        definition,
        relation: definition.tableSql,
        alias: 's',
        op: 'upsert',
        origin: 'backfill',
        where: `WHERE s.article_id LIKE 'chunk-%'`,
        chunkRows: 7,
      }),
    );
    assert.equal(result.rows[0]!.enqueued, '50');
    const events = await eventsSince(testDb.db, from);
    assert.equal(new Set(events.map((event) => event.source_id)).size, 50);
    assert.ok(events.every((event) => event.origin === 'backfill'));
  });

  it('vectorsync.enqueue() goes through it and returns the event id', async () => {
    const from = await lastEventId(testDb.db);
    const result = await testDb.db.query<{ id: string }>(
      `SELECT vectorsync.enqueue('products', 'acme', 'app-1', 'delete', 42)::text AS id`,
    );
    assert.ok(BigInt(result.rows[0]!.id) > BigInt(from));
    assert.deepEqual(await eventsSince(testDb.db, from), [
      { tenant: 'acme', source_id: 'app-1', op: 'delete', origin: 'app' },
    ]);
  });

  it('refuses an unknown collection, except from a capture trigger', async () => {
    await assert.rejects(
      testDb.db.query(`SELECT vectorsync.enqueue_many('nope', 'upsert', ARRAY['t'], ARRAY['1'])`),
      (error: Error) => sqlStateOf(error) === '42704' && /unknown collection "nope"/.test(error.message),
    );
    // A trigger left behind by a collection being removed must not fail the application's write.
    const from = await lastEventId(testDb.db);
    await testDb.db.query(
      `SELECT vectorsync.enqueue_many('nope', 'upsert', ARRAY['t'], ARRAY['1'], NULL, 'trigger')`,
    );
    assert.equal((await eventsSince(testDb.db, from)).length, 1);
    await testDb.db.query(`DELETE FROM vectorsync.outbox WHERE collection = 'nope'`);
  });

  it('names what is wrong with its arguments and queues nothing', async () => {
    const from = await lastEventId(testDb.db);
    await assert.rejects(
      testDb.db.query(`SELECT vectorsync.enqueue_many('products', 'upsert', ARRAY['t', 'u'], ARRAY['1'])`),
      (error: Error) => sqlStateOf(error) === '22023' && /2 tenants, 1 ids/.test(error.message),
    );
    await assert.rejects(
      testDb.db.query(
        `SELECT vectorsync.enqueue_many('products', 'upsert', ARRAY['t'], ARRAY['1'], ARRAY[1, 2]::bigint[])`,
      ),
      (error: Error) => sqlStateOf(error) === '22023' && /2 versions/.test(error.message),
    );
    await assert.rejects(
      testDb.db.query(`SELECT vectorsync.enqueue_many('products', 'merge', ARRAY['t'], ARRAY['1'])`),
      (error: Error) => sqlStateOf(error) === '22023' && /got "merge"/.test(error.message),
    );
    await assert.rejects(
      testDb.db.query(
        `SELECT vectorsync.enqueue_many('products', 'upsert', ARRAY[NULL, 't'], ARRAY['1', '2'])`,
      ),
      (error: Error) => sqlStateOf(error) === '23502',
    );
    assert.deepEqual(await eventsSince(testDb.db, from), []);
  });
});

describe('the outbox has one owner', () => {
  it('no statement outside src/outbox/ names the outbox table, its entry points or its channel', async () => {
    const root = new URL('../src/', import.meta.url).pathname;
    const offenders: string[] = [];
    const patterns = [
      /\bvectorsync\.outbox\b/,
      /\bvectorsync\.enqueue(_many)?\s*\(/,
      /\bvectorsync_outbox\b/,
    ];
    for (const file of await sourceFiles(root)) {
      const path = relative(root, file);
      if (path.startsWith('outbox/') || path.startsWith('generated/')) continue;
      const text = await readFile(file, 'utf8');
      text.split('\n').forEach((line, index) => {
        if (patterns.some((pattern) => pattern.test(line)))
          offenders.push(`src/${path}:${index + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, []);
  });
});

async function sourceFiles(directory: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
  return files;
}
