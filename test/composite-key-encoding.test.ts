import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadCollectionDefinitions } from '../src/config/collection-definition.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { canonicalIdSql, decodeCanonicalId, encodeCanonicalId } from '../src/pipeline/canonical-id.js';
import { idBucket, idBucketSql } from '../src/stores/id-bucket.js';
import { createNotesTable, hostileNoteNumbers, notesConfig } from './helpers/notes-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

const hostileTuples: string[][] = hostileNoteNumbers.flatMap((a) =>
  ['', ',', '\\', 'x', 'ünï', ...hostileNoteNumbers.slice(0, 6)].map((b) => [a, b]),
);

describe('the canonical id of a composite key', () => {
  it('round-trips every value, and two different tuples never share an id', () => {
    const seen = new Map<string, string[]>();
    for (const tuple of hostileTuples) {
      const id = encodeCanonicalId(tuple);
      assert.deepEqual(decodeCanonicalId(id, 2), tuple, `decode(encode(${JSON.stringify(tuple)}))`);
      const other = seen.get(id);
      if (other) assert.deepEqual(other, tuple, `${JSON.stringify(id)} encodes two tuples`);
      seen.set(id, tuple);
    }
    for (const triple of [
      ['a', 'b', 'c'],
      ['', '', ''],
      ['a,b', '', '\\'],
    ])
      assert.deepEqual(decodeCanonicalId(encodeCanonicalId(triple), 3), triple);
  });

  it('leaves a single-column id exactly as it was', () => {
    for (const value of hostileNoteNumbers) {
      assert.equal(encodeCanonicalId([value]), value);
      assert.deepEqual(decodeCanonicalId(value, 1), [value]);
    }
  });

  it('reads as the values joined by commas', () => {
    assert.equal(encodeCanonicalId(['acme', '42']), 'acme,42');
    assert.equal(encodeCanonicalId(['a,b', 'c\\d']), 'a\\,b,c\\\\d');
  });

  it('refuses ids that are not an encoding: wrong arity, an escape of nothing', () => {
    for (const id of ['acme', 'a,b,c', 'a\\x,b', 'a,b\\', '\\', 'acme,,']) {
      assert.equal(decodeCanonicalId(id, 2), undefined, JSON.stringify(id));
    }
  });
});

describe('SQL and TypeScript compute the same canonical ids and buckets', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('composite_encoding');
  });
  after(async () => {
    await testDb.drop();
  });

  it('on hostile text values (with either standard_conforming_strings setting)', async () => {
    for (const conforming of ['on', 'off']) {
      await testDb.db.transaction(async (tx) => {
        await tx.query(`SET LOCAL standard_conforming_strings = ${conforming}`);
        const id = canonicalIdSql(['k.a', 'k.b']);
        const result = await tx.query<{ a: string; b: string; id: string; bucket: number }>(
          `SELECT k.a, k.b, ${id} AS id, ${idBucketSql(id)} AS bucket
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(a, b, n) ORDER BY k.n`,
          [hostileTuples.map((tuple) => tuple[0]), hostileTuples.map((tuple) => tuple[1])],
        );
        assert.equal(result.rows.length, hostileTuples.length);
        for (const row of result.rows) {
          const expected = encodeCanonicalId([row.a, row.b]);
          assert.equal(row.id, expected, `SQL id of ${JSON.stringify([row.a, row.b])}`);
          assert.equal(row.bucket, idBucket(expected), `bucket of ${JSON.stringify(expected)}`);
        }
      });
    }
  });

  it('on every column type a composite key may have', async () => {
    const result = await testDb.db.query<{ parts: string[]; id: string }>(
      `SELECT ARRAY[k.i::text, k.n::text, k.u::text, k.v::text] AS parts, ${canonicalIdSql(['k.i', 'k.n', 'k.u', 'k.v'])} AS id
         FROM (VALUES (-42::int8, 1.50::numeric, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'x,y'::varchar(10)),
                      (0::int8, -0.000001::numeric, '00000000-0000-0000-0000-000000000000'::uuid, '\\'::varchar(10))) AS k(i, n, u, v)`,
    );
    for (const row of result.rows) {
      assert.equal(row.id, encodeCanonicalId(row.parts));
      assert.deepEqual(decodeCanonicalId(row.id, 4), row.parts);
    }
    assert.equal(result.rows[0]!.id, '-42,1.50,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,x\\,y');
  });
});

describe('config: composite primary keys are checked against the table', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('composite_config');
    await createNotesTable(testDb.db);
    await testDb.db.query(`CREATE TABLE public.loose (org_id text, note_no int, stamp timestamptz NOT NULL, title text NOT NULL, body text,
      version bigint NOT NULL DEFAULT 0, UNIQUE (org_id, note_no), UNIQUE (org_id, stamp))`);
  });
  after(async () => {
    await testDb.drop();
  });

  it('names a primaryKey that is neither a column name nor a list of them', () => {
    const config = demoConfig() as { collections: Record<string, Record<string, unknown>> };
    config.collections.products!.primaryKey = 42;
    assert.throws(
      () => parseConfig(config),
      /collections\.products\.primaryKey: must be a column name, or a non-empty list of column names/,
    );
  });

  const load = (table: string, primaryKey: string | string[]) => {
    const config = notesConfig(testDb);
    const notes = config.collections.notes!;
    return loadCollectionDefinitions(testDb.db, {
      collections: { notes: { ...notes, table, primaryKey } },
    });
  };

  it('accepts the primary key in either order, and a one-element list as the plain column', async () => {
    const definitions = await load('public.notes', ['org_id', 'note_no']);
    assert.deepEqual(
      definitions.get('notes')!.keyColumns.map((column) => column.name),
      ['org_id', 'note_no'],
    );
    const reversed = await load('public.notes', ['note_no', 'org_id']);
    assert.deepEqual(
      reversed.get('notes')!.keyColumns.map((column) => column.name),
      ['note_no', 'org_id'],
    );
    await testDb.db.query(
      'CREATE TABLE public.single (id text PRIMARY KEY, org_id text NOT NULL, title text NOT NULL, body text, version bigint NOT NULL DEFAULT 0)',
    );
    const single = await load('public.single', ['id']);
    assert.deepEqual(
      single.get('notes')!.keyColumns.map((column) => column.name),
      ['id'],
    );
  });

  for (const [label, table, key, message] of [
    [
      'columns that are not a unique key',
      'public.notes',
      ['org_id', 'title'],
      /columns "org_id", "title" are not the primary key or a unique key of public.notes \(its primary key is org_id, note_no\)/,
    ],
    [
      'part of the key only',
      'public.notes',
      ['note_no'],
      /column "note_no" is not the primary key or a unique column/,
    ],
    ['a column twice', 'public.notes', ['org_id', 'org_id'], /column "org_id" is listed twice/],
    [
      'a missing column',
      'public.notes',
      ['org_id', 'note_number'],
      /column "note_number" does not exist in public.notes/,
    ],
    [
      'a nullable column',
      'public.loose',
      ['org_id', 'note_no'],
      /column "org_id" of a composite key must be NOT NULL/,
    ],
    [
      'a timestamp column',
      'public.loose',
      ['stamp', 'org_id'],
      /column "stamp" has type timestamp with time zone; a composite key's columns must be integer, numeric, text, varchar or uuid/,
    ],
  ] as const) {
    it(`refuses ${label}, naming it`, async () => {
      await assert.rejects(load(table, [...key]), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.match(error.message, /collections\.notes\.primaryKey/);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
