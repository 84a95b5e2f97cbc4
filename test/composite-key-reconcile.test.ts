import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrateStore } from '../src/index-versions/store-migration.js';
import { silentLogger } from '../src/logger.js';
import { encodeCanonicalId } from '../src/pipeline/canonical-id.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { behindSyncsBack, sampleIds } from './helpers/drift.js';
import {
  createNotesTable,
  hostileNoteNumbers,
  insertNotes,
  notesConfig,
  notesDrift,
  openNotesRuntime,
} from './helpers/notes-fixture.js';
import { outboxDrained } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

const id = (org: string, no: string) => encodeCanonicalId([org, no]);
const notes = hostileNoteNumbers.map((no, index) => ({
  no,
  title: `Note ${index}`,
  body: `about ${no} and lakes`,
}));
const tenants = ['acme', 'globex', 'a,b\\c'];

async function seed(testDb: TestDatabase): Promise<void> {
  await createNotesTable(testDb.db);
  for (const tenant of tenants) await insertNotes(testDb.db, tenant, notes);
}

describe('reconcile a composite-key collection: missing, orphaned and stale ids, and --fix', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let location: string;
  // Pages smaller than a tenant's rows: keyset pagination over the (org_id, note_no) tuple.
  const settings = { pageSize: 7, sampleSize: 1000, diffRowBudget: 11, repairBatchSize: 5 };
  const reconcile = (mode: 'report' | 'fix' = 'report') =>
    reconcileCollection(runtime, { collection: 'notes', mode, settings });

  before(async () => {
    testDb = await createTestDatabase('composite_reconcile');
    await seed(testDb);
    runtime = await openNotesRuntime(testDb, notesConfig(testDb));
    location = runtime.activeTarget('notes').record.location;
    workers = new SyncWorkers(runtime, silentLogger);
    await workers.start();
    await waitFor(() => outboxDrained(testDb.db), { message: 'the backfill' });
    // Repairs below come from reconcile alone.
    await workers.stop();
  });
  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('finds an index that sync keeps in sync', async () => {
    const report = await reconcile();
    assert.equal(report.inSync, true, JSON.stringify(report.counts));
    assert.equal(report.sourceRows, tenants.length * notes.length);
    assert.equal(report.indexRecords, tenants.length * notes.length);
  });

  it('reports each drifted id exactly, as its canonical id, and --fix returns to the source', async () => {
    const missing = [id('acme', 'a,b'), id('a,b\\c', '\\')];
    assert.equal(
      (await testDb.db.query(`DELETE FROM vectorsync."${location}" WHERE id = ANY($1)`, [missing])).rowCount,
      2,
    );
    // Source rows gone behind sync's back (no capture, no cascade): their records are orphans.
    await behindSyncsBack(
      testDb.db,
      `DELETE FROM notes WHERE org_id = 'globex' AND note_no IN (',', 'ends\\')`,
    );
    // A changed title without capture: the record is stale.
    await behindSyncsBack(
      testDb.db,
      `UPDATE notes SET title = 'Changed', version = version + 1000 WHERE org_id = 'a,b\\c' AND note_no = '"quoted"'`,
    );
    // A key change without capture: the new id is missing, the old one an orphan.
    await behindSyncsBack(
      testDb.db,
      `UPDATE notes SET note_no = 'x,y' WHERE org_id = 'acme' AND note_no = ''`,
    );

    const report = await reconcile();
    assert.deepEqual(sampleIds(report.samples.missing), [...missing, id('acme', 'x,y')].sort());
    assert.deepEqual(
      sampleIds(report.samples.orphaned),
      [id('globex', ','), id('globex', 'ends\\'), id('acme', '')].sort(),
    );
    assert.deepEqual(sampleIds(report.samples.stale), [id('a,b\\c', '"quoted"')]);
    assert.equal(report.samples.orphaned.find((sample) => sample.id === id('globex', ','))?.tenant, 'globex');
    assert.ok(await notesDrift(runtime, testDb.db), 'the fixture sees the same drift');

    const fixed = await reconcile('fix');
    assert.equal(fixed.repair?.repaired, 7, JSON.stringify(fixed.repair));
    assert.equal(await notesDrift(runtime, testDb.db), undefined);
    assert.equal((await reconcile()).inSync, true);
  });
});

describe('migrate-store a composite-key collection from pgvector to LanceDB', () => {
  let testDb: TestDatabase;
  let dataDir: string;
  let runtime: VectorsyncRuntime;
  let operator: VectorsyncRuntime;
  let workers: SyncWorkers;

  before(async () => {
    testDb = await createTestDatabase('composite_migrate');
    dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-composite-'));
    await seed(testDb);
    const config = notesConfig(testDb, {
      stores: { main: { provider: 'pgvector' }, lance: { provider: 'lancedb', dataDir } },
      sync: { indexRefreshMs: 100 },
    });
    runtime = await openNotesRuntime(testDb, config);
    workers = new SyncWorkers(runtime, silentLogger);
    await workers.start();
    operator = await openNotesRuntime(testDb, config, { setup: false });
    await waitFor(() => outboxDrained(testDb.db), { message: 'the backfill' });
  });
  after(async () => {
    await workers.stop();
    await operator.close();
    await runtime.close();
    await testDb.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('fills, verifies and cuts over; both indexes then follow key changes', async () => {
    const report = await migrateStore(operator, {
      collection: 'notes',
      to: 'lance',
      pageSize: 7,
      queries: 10,
    });
    assert.equal(report.verified, true, `verification problems: ${report.problems.join('; ')}`);
    assert.equal(report.cutover, true);
    assert.equal(report.fill.failed, 0);
    assert.deepEqual(report.completeness.discrepancies, []);
    await runtime.refreshIndexes();
    const active = runtime.activeTarget('notes');
    assert.equal(active.storeName, 'lance');
    assert.equal(await notesDrift(runtime, testDb.db, active.record.location), undefined);

    await testDb.db.query(
      `UPDATE notes SET note_no = 'moved,\\' WHERE org_id = 'globex' AND note_no = 'a,b'`,
    );
    await testDb.db.query(`DELETE FROM notes WHERE org_id = 'acme' AND note_no = ','`);
    for (const target of runtime.collection('notes').targets) {
      await waitFor(
        async () => (await notesDrift(runtime, testDb.db, target.record.location)) === undefined,
        {
          message: async () =>
            `${target.storeName} to equal the source:\n${await notesDrift(runtime, testDb.db, target.record.location)}`,
        },
      );
    }
    assert.equal(
      runtime.collection('notes').targets.length,
      2,
      'the old pgvector index stays as the standby',
    );
  });
});
