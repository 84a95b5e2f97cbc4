import type { ConfigInput } from '../../src/config/config-schema.js';
import { parseConfig, type ResolvedConfig } from '../../src/config/resolve-config.js';
import type { SqlExecutor } from '../../src/db/database.js';
import { encodeCanonicalId } from '../../src/pipeline/canonical-id.js';
import { scanBuckets } from '../../src/reconcile/store-reader.js';
import { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import { ID_BUCKETS } from '../../src/stores/id-bucket.js';
import { setupCollections } from '../../src/sync/setup-collections.js';
import { fastSync } from './products-fixture.js';
import type { TestDatabase } from './test-environment.js';

/**
 * A multi-tenant table with a composite primary key (org_id, note_no), the shape issue 12
 * asks for. note_no is text so that keys can hold the encoding's own characters.
 */
export const notesTableSql = `
CREATE TABLE public.notes (
  org_id text NOT NULL,
  note_no text NOT NULL,
  title text NOT NULL,
  body text,
  version bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, note_no)
)`;

/** Key parts that an encoding could get wrong: its separator and escape, quotes, unicode, empty. */
export const hostileNoteNumbers = [
  'plain-1',
  'a,b',
  ',',
  ',,',
  '\\',
  '\\,',
  ',\\',
  'ends\\',
  '',
  '"quoted"',
  "it's",
  '(1,2)',
  '{a,b}',
  'NULL',
  ' spaced ',
  'línea\nnueva\ttab',
  'ünïcødé 雪 😀',
  '%2C%5C',
];

export async function createNotesTable(db: SqlExecutor): Promise<void> {
  await db.query(notesTableSql);
}

export function notesConfig(
  testDb: TestDatabase,
  options: {
    mode?: 'outbox' | 'cdc' | 'dual-write';
    stores?: ConfigInput['stores'];
    store?: string;
    sync?: ConfigInput['sync'];
  } = {},
): ResolvedConfig {
  return parseConfig({
    databaseUrl: testDb.url,
    embedders: { default: { provider: 'hash', dimensions: 32 } },
    stores: options.stores ?? { main: { provider: 'pgvector' } },
    sync: { ...fastSync, ...options.sync },
    cdc: {
      slot: `vs_${testDb.name}`.slice(0, 63),
      batchDelayMs: 5,
      statusIntervalMs: 500,
      reconnectMaxMs: 500,
    },
    collections: {
      notes: {
        table: 'public.notes',
        primaryKey: ['org_id', 'note_no'],
        tenantColumn: 'org_id',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{title}}. {{body}}',
        keywordFields: ['title', 'body'],
        payloadFields: ['title'],
        store: options.store ?? 'main',
        embedder: 'default',
        sync: { mode: options.mode ?? 'outbox', bus: false },
      },
    },
  });
}

export async function openNotesRuntime(
  testDb: TestDatabase,
  config: ResolvedConfig,
  options: { setup?: boolean } = {},
): Promise<VectorsyncRuntime> {
  const runtime = await VectorsyncRuntime.open({
    config,
    db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
  });
  if (options.setup ?? true) await setupCollections(runtime);
  return runtime;
}

export async function insertNotes(
  db: SqlExecutor,
  org: string,
  notes: ReadonlyArray<{ no: string; title: string; body?: string }>,
): Promise<void> {
  await db.query(
    `INSERT INTO notes (org_id, note_no, title, body) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])`,
    [
      org,
      notes.map((note) => note.no),
      notes.map((note) => note.title),
      notes.map((note) => note.body ?? null),
    ],
  );
}

export interface IndexedNote {
  id: string;
  tenant: string;
  version: number;
}

/** Every record of the collection's active index, through the store's own scan (any store). */
export async function indexedNotes(runtime: VectorsyncRuntime, location?: string): Promise<IndexedNote[]> {
  const targets = runtime.collection('notes').targets;
  const target = location
    ? targets.find((candidate) => candidate.record.location === location)
    : runtime.activeTarget('notes');
  if (!target) throw new Error(`index ${location} is not live`);
  const found: IndexedNote[] = [];
  for await (const page of scanBuckets(target.store, target.spec, 0, ID_BUCKETS - 1, { pageSize: 200 }))
    for (const record of page) found.push({ id: record.id, tenant: record.tenant, version: record.version });
  return found.sort(byId);
}

/** What a rebuild from the source would hold: ids computed here, in TypeScript, from the key values. */
export async function expectedNotes(db: SqlExecutor): Promise<IndexedNote[]> {
  const rows = await db.query<{ org_id: string; note_no: string; version: string }>(
    'SELECT org_id, note_no, version::text AS version FROM notes',
  );
  return rows.rows
    .map((row) => ({
      id: encodeCanonicalId([row.org_id, row.note_no]),
      tenant: row.org_id,
      version: Number(row.version),
    }))
    .sort(byId);
}

/** The index differs from the source: a description of how, or undefined when it does not. */
export async function notesDrift(
  runtime: VectorsyncRuntime,
  db: SqlExecutor,
  location?: string,
): Promise<string | undefined> {
  const [indexed, expected] = await Promise.all([indexedNotes(runtime, location), expectedNotes(db)]);
  const have = new Map(indexed.map((note) => [note.id, note]));
  const problems: string[] = [];
  for (const note of expected) {
    const record = have.get(note.id);
    if (!record) problems.push(`missing ${JSON.stringify(note.id)}`);
    else if (record.tenant !== note.tenant || record.version !== note.version)
      problems.push(
        `stale ${JSON.stringify(note.id)}: index ${record.tenant} v${record.version}, source v${note.version}`,
      );
    have.delete(note.id);
  }
  for (const id of have.keys()) problems.push(`orphan ${JSON.stringify(id)}`);
  return problems.length > 0 ? problems.slice(0, 20).join('\n') : undefined;
}

function byId(a: IndexedNote, b: IndexedNote): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
