import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../src/logger.js';
import { encodeCanonicalId } from '../src/pipeline/canonical-id.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  createNotesTable,
  hostileNoteNumbers,
  indexedNotes,
  insertNotes,
  notesConfig,
  notesDrift,
  openNotesRuntime,
} from './helpers/notes-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

const id = (org: string, no: string) => encodeCanonicalId([org, no]);
const hostile = hostileNoteNumbers.map((no, index) => ({
  no,
  title: `Note ${index} about ${no}`,
  body: 'alpine lakes',
}));

/** Source writes by SQL, captured by the mode's own capture; the index must end equal to the source. */
for (const mode of ['outbox', 'cdc'] as const) {
  describe(`composite primary key, ${mode} mode: direct SQL writes converge`, () => {
    let testDb: TestDatabase;
    let runtime: VectorsyncRuntime;
    let workers: SyncWorkers;
    const converged = () =>
      waitFor(async () => (await notesDrift(runtime, testDb.db)) === undefined, {
        message: async () => `the index to equal the source:\n${await notesDrift(runtime, testDb.db)}`,
      });

    before(async () => {
      testDb = await createTestDatabase(`composite_${mode}`);
      await createNotesTable(testDb.db);
      // Rows that exist before setup reach the index through the backfill.
      await insertNotes(testDb.db, 'acme', hostile);
      runtime = await openNotesRuntime(testDb, notesConfig(testDb, { mode }));
      workers = new SyncWorkers(runtime, silentLogger);
      await workers.start();
    });
    after(async () => {
      await workers.stop();
      await runtime.close();
      await testDb.drop();
    });

    it('backfills rows whose keys hold commas, backslashes, quotes and unicode', async () => {
      await converged();
      const ids = (await indexedNotes(runtime)).map((note) => note.id);
      assert.ok(ids.includes('acme,a\\,b'), 'a comma inside a key value is escaped');
      assert.ok(ids.includes('acme,\\\\'), 'a backslash is doubled');
      assert.ok(ids.includes('acme,'), 'an empty value is an empty part');
      assert.equal(ids.length, hostile.length);
    });

    it('inserts, updates, deletes, key changes and tenant moves', async () => {
      // The same note numbers in another tenant are other rows with other ids.
      await insertNotes(testDb.db, 'globex', hostile.slice(0, 8));
      await testDb.db.query(
        `UPDATE notes SET title = 'Retitled' WHERE org_id = 'globex' AND note_no = 'a,b'`,
      );
      await testDb.db.query(`DELETE FROM notes WHERE org_id = 'globex' AND note_no = ','`);
      // A key change: the old id must leave the index, the new one arrive.
      await testDb.db.query(
        `UPDATE notes SET note_no = 'renamed,\\' WHERE org_id = 'acme' AND note_no = 'plain-1'`,
      );
      // org_id is the tenant and part of the key: a move is a key change too.
      await testDb.db.query(
        `UPDATE notes SET org_id = 'initech' WHERE org_id = 'acme' AND note_no = '"quoted"'`,
      );
      // One statement that changes two keys.
      await testDb.db.query(
        `UPDATE notes SET note_no = note_no || ',#' WHERE org_id = 'acme' AND note_no IN ('NULL', '{a,b}')`,
      );
      await converged();
      const notes = new Map((await indexedNotes(runtime)).map((note) => [note.id, note]));
      assert.ok(notes.has(id('acme', 'renamed,\\')) && !notes.has(id('acme', 'plain-1')));
      assert.equal(notes.get(id('initech', '"quoted"'))?.tenant, 'initech');
      assert.ok(!notes.has(id('acme', '"quoted"')));
      assert.ok(!notes.has(id('globex', ',')));
      assert.ok(notes.has(id('acme', 'NULL,#')) && !notes.has(id('acme', 'NULL')));
      assert.ok(notes.has(id('acme', '{a,b},#')) && !notes.has(id('acme', '{a,b}')));
      assert.equal(notes.size, hostile.length + 8 - 1);

      const search = new SearchService(runtime);
      const found = await search.search({
        collection: 'notes',
        tenant: 'globex',
        query: 'Retitled',
        mode: 'keyword',
        k: 3,
      });
      assert.equal(found.hits[0]?.id, id('globex', 'a,b'), 'hits carry the canonical id');
    });

    if (mode === 'outbox') {
      it('the pgvector index holds the key columns and references the source row', async () => {
        const location = runtime.activeTarget('notes').record.location;
        const constraint = await testDb.db.query<{ definition: string }>(
          `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint
            WHERE conrelid = $1::regclass AND contype = 'f'`,
          [`vectorsync."${location}"`],
        );
        assert.deepEqual(
          constraint.rows.map((row) => row.definition),
          [
            'FOREIGN KEY (key_1, key_2) REFERENCES notes(org_id, note_no) ON UPDATE CASCADE ON DELETE CASCADE',
          ],
        );
        // Behind sync's back (no capture), a delete still removes the record: the cascade.
        await testDb.db.transaction(async (tx) => {
          await tx.query(`ALTER TABLE notes DISABLE TRIGGER vectorsync_notes_del`);
          await tx.query(`DELETE FROM notes WHERE org_id = 'acme' AND note_no = 'ünïcødé 雪 😀'`);
          await tx.query(`ALTER TABLE notes ENABLE TRIGGER vectorsync_notes_del`);
        });
        const ids = (await indexedNotes(runtime)).map((note) => note.id);
        assert.ok(!ids.includes(id('acme', 'ünïcødé 雪 😀')));
        // And a key change moves the record's generated id with the key, before any event is applied.
        await workers.stop();
        await testDb.db.query(
          `UPDATE notes SET note_no = 'moved' WHERE org_id = 'acme' AND note_no = 'it''s'`,
        );
        const moved = await testDb.db.query<{ id: string; key_2: string }>(
          `SELECT id, key_2 FROM vectorsync."${location}" WHERE key_1 = 'acme' AND key_2 IN ('moved', 'it''s')`,
        );
        assert.deepEqual(moved.rows, [{ id: 'acme,moved', key_2: 'moved' }]);
        await workers.start();
        await converged();
      });
    }
  });
}

describe('composite primary key, dual-write mode: the documents API addresses documents by canonical id', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let app: FastifyInstance;
  let acme: string;
  let globex: string;

  before(async () => {
    testDb = await createTestDatabase('composite_dual_write');
    await createNotesTable(testDb.db);
    runtime = await openNotesRuntime(testDb, notesConfig(testDb, { mode: 'dual-write' }));
    workers = new SyncWorkers(runtime, silentLogger);
    await workers.start();
    app = createServer({ runtime, logger: silentLogger, metrics: new ServiceMetrics(runtime) });
    acme = (await createApiKey(testDb.db, { name: 'acme', tenant: 'acme' })).key;
    globex = (await createApiKey(testDb.db, { name: 'globex', tenant: 'globex' })).key;
  });
  after(async () => {
    await app.close();
    await workers.stop();
    await runtime.close();
    await testDb.drop();
  });

  const call = (method: string, url: string, key: string, payload?: object) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload ? { payload } : {}),
    });
  const path = (documentId: string) => `/v1/collections/notes/documents/${encodeURIComponent(documentId)}`;

  it('creates, reads, replaces, patches and deletes documents with hostile keys; the index follows each write', async () => {
    for (const note of hostile) {
      const created = await call('POST', '/v1/collections/notes/documents', acme, {
        note_no: note.no,
        title: note.title,
        body: note.body,
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(created.headers['x-vectorsync-index'], 'applied');
      assert.equal(created.headers.location, path(id('acme', note.no)));
      const read = await call('GET', created.headers.location as string, acme);
      assert.equal(read.statusCode, 200, `${note.no}: ${read.body}`);
      assert.equal(read.json().note_no, note.no);
    }
    assert.equal(await notesDrift(runtime, testDb.db), undefined);

    const target = id('acme', 'a,b');
    const replaced = await call('PUT', path(target), acme, {
      title: 'Replaced',
      body: 'fjords',
      note_no: 'a,b',
    });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal(replaced.headers['x-vectorsync-index'], 'applied');
    const patched = await call('PATCH', path(id('acme', '\\')), acme, { title: 'Patched' });
    assert.equal(patched.statusCode, 200, patched.body);
    const deleted = await call('DELETE', path(id('acme', ',')), acme);
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.headers['x-vectorsync-index'], 'applied');
    assert.equal(
      await notesDrift(runtime, testDb.db),
      undefined,
      'each write reached the index in its request',
    );
    const records = new Map((await indexedNotes(runtime)).map((note) => [note.id, note]));
    assert.ok(records.has(target) && !records.has(id('acme', ',')));
    const title = await testDb.db.query<{ title: string }>(
      `SELECT title FROM notes WHERE org_id = 'acme' AND note_no = '\\'`,
    );
    assert.equal(title.rows[0]?.title, 'Patched');
  });

  it('refuses a malformed id with 400 INVALID_DOCUMENT_ID naming it, before any SQL', async () => {
    for (const bad of ['acme', 'acme,1,2', 'acme,x\\y', 'acme,ends\\']) {
      const response = await call('GET', path(bad), acme);
      assert.equal(response.statusCode, 400, bad);
      const error = response.json().error;
      assert.equal(error.code, 'INVALID_DOCUMENT_ID');
      assert.ok(error.message.includes(`"${bad}"`), error.message);
      assert.match(error.message, /\(org_id, note_no\)/);
      const write = await call('PATCH', path(bad), acme, { title: 'x' });
      assert.equal(write.json().error.code, 'INVALID_DOCUMENT_ID');
    }
  });

  it('another tenant’s id is not found, and a key in the body must repeat the path', async () => {
    const other = await call('GET', path(id('acme', 'a,b')), globex);
    assert.equal(other.statusCode, 404);
    const sneaky = await call('DELETE', path(id('acme', 'a,b')), globex);
    assert.equal(sneaky.statusCode, 404);
    const changed = await call('PATCH', path(id('acme', 'a,b')), acme, { note_no: 'b,a' });
    assert.equal(changed.statusCode, 400);
    assert.match(changed.json().error.message, /"note_no" the primary key cannot be changed/);
    const collections = await call('GET', '/v1/collections', acme);
    const notes = collections
      .json()
      .collections.find((collection: { name: string }) => collection.name === 'notes');
    assert.deepEqual(notes.primaryKey, ['org_id', 'note_no']);
  });
});
