import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatLsn, parseLsn } from '../src/capture/cdc/lsn.js';
import { PgoutputDecoder, type PgoutputMessage, tupleText } from '../src/capture/cdc/pgoutput-decoder.js';
import { timestampMicros } from '../src/sync/cdc-change-extractor.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/**
 * Real pgoutput bytes from the server (pg_logical_slot_get_binary_changes on a pgoutput slot),
 * decoded by our decoder: the same protocol the replication stream carries.
 */
describe('pgoutput decoder against a real server', () => {
  let testDb: TestDatabase;
  const slot = `vs_decoder_${process.pid}`;
  let messages: PgoutputMessage[] = [];

  before(async () => {
    testDb = await createTestDatabase('pgoutput');
    const db = testDb.db;
    await db.query(`CREATE TABLE docs (id int PRIMARY KEY, tenant text, big text, n int)`);
    // EXTERNAL: stored out of line without compression, so an update that leaves it alone
    // sends the "unchanged TOAST" marker instead of the value.
    await db.query(`ALTER TABLE docs ALTER COLUMN big SET STORAGE EXTERNAL`);
    await db.query(`CREATE PUBLICATION vs_decoder FOR TABLE docs`);
    await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    await db.query(`INSERT INTO docs VALUES (1, 'acme', repeat('lorem ipsum ', 2000), 1)`);
    await db.query(`UPDATE docs SET n = 2 WHERE id = 1`);
    await db.query(`UPDATE docs SET id = 2 WHERE id = 1`);
    await db.query(`DELETE FROM docs WHERE id = 2`);
    await db.query(`ALTER TABLE docs ADD COLUMN extra text DEFAULT 'e'`);
    await db.query(`INSERT INTO docs (id, tenant, big, n) VALUES (3, 'globex', 'small', 3)`);
    await db.query(`TRUNCATE docs`);
    const changes = await db.query<{ lsn: string; data: Buffer }>(
      `SELECT lsn::text, data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', 'vs_decoder')`,
      [slot],
    );
    const decoder = new PgoutputDecoder();
    messages = changes.rows.map((row) => decoder.decode(row.data));
  });

  after(async () => {
    await testDb.db.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
    await testDb.drop();
  });

  const ofTag = <T extends PgoutputMessage['tag']>(tag: T) =>
    messages.filter((message): message is Extract<PgoutputMessage, { tag: T }> => message.tag === tag);

  it('frames every change in a transaction with its commit LSN and time', () => {
    const begins = ofTag('begin');
    const commits = ofTag('commit');
    assert.equal(begins.length, 6, 'six data transactions (the ALTER TABLE sends none)');
    assert.equal(commits.length, 6);
    for (const commit of commits) {
      assert.ok(commit.endLsn > commit.commitLsn);
      assert.ok(Math.abs(commit.commitTime.getTime() - Date.now()) < 600_000);
    }
  });

  it('decodes inserts with every column as text', () => {
    const [first, second] = ofTag('insert');
    assert.ok(first && second);
    assert.equal(tupleText(first.relation, first.newTuple, 'id'), '1');
    assert.equal(tupleText(first.relation, first.newTuple, 'tenant'), 'acme');
    assert.equal(tupleText(first.relation, first.newTuple, 'big')?.length, 'lorem ipsum '.length * 2000);
    assert.equal(tupleText(second.relation, second.newTuple, 'extra'), 'e', 'the added column is decoded');
  });

  it('reports an unchanged TOASTed column as a marker, never as a value', () => {
    const [update] = ofTag('update');
    assert.ok(update);
    const big = update.relation.columns.findIndex((column) => column.name === 'big');
    assert.deepEqual(update.newTuple[big], { kind: 'unchanged' });
    assert.equal(tupleText(update.relation, update.newTuple, 'big'), undefined);
    assert.equal(tupleText(update.relation, update.newTuple, 'n'), '2');
    assert.equal(update.oldTuple, undefined, 'no old key when the key did not change');
  });

  it('sends the old key when an update changes the primary key', () => {
    const keyChange = ofTag('update')[1];
    assert.ok(keyChange);
    assert.equal(keyChange.oldKind, 'key');
    assert.equal(tupleText(keyChange.relation, keyChange.oldTuple, 'id'), '1');
    assert.equal(tupleText(keyChange.relation, keyChange.newTuple, 'id'), '2');
  });

  it('decodes deletes with only the key under the default replica identity', () => {
    const [deletion] = ofTag('delete');
    assert.ok(deletion);
    assert.equal(deletion.oldKind, 'key');
    assert.equal(tupleText(deletion.relation, deletion.oldTuple, 'id'), '2');
    assert.equal(tupleText(deletion.relation, deletion.oldTuple, 'tenant'), undefined);
  });

  it('sends a new relation message after a column is added, and decodes truncate', () => {
    const relations = ofTag('relation').map((message) =>
      message.relation.columns.map((column) => column.name),
    );
    assert.deepEqual(relations[0], ['id', 'tenant', 'big', 'n']);
    assert.deepEqual(relations.at(-1), ['id', 'tenant', 'big', 'n', 'extra']);
    const [truncate] = ofTag('truncate');
    assert.equal(truncate?.relations[0]?.name, 'docs');
  });

  it('converts LSNs and timestamp versions exactly like the SQL side', async () => {
    assert.equal(formatLsn(parseLsn('16/B374D848')), '16/B374D848');
    const samples = [
      '2026-11-21 22:15:03.123456+00',
      '1999-12-31 23:59:59.999999-08',
      '2026-03-01 00:00:00+05:30',
      '2030-06-15 12:00:00.5+00',
    ];
    for (const sample of samples) {
      const sql = await testDb.db.query<{ micros: string; text: string }>(
        `SELECT (floor(extract(epoch FROM $1::timestamptz) * 1000000))::bigint::text AS micros, $1::timestamptz::text AS text`,
        [sample],
      );
      assert.equal(timestampMicros(sql.rows[0]!.text), Number(sql.rows[0]!.micros), sample);
    }
  });
});
