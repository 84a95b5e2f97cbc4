import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoConfig } from '../src/demo/demo-schema.js';
import type { ReconcileReport } from '../src/reconcile/reconcile-report.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { trackChildProcess } from './helpers/child-processes.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('vectorsync reconcile (CLI)', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let configPath: string;
  const items = products(60, 97);

  const cli = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
      delete env.DATABASE_URL;
      const child = trackChildProcess(
        spawn(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', '--config', configPath, 'reconcile', ...args],
          { env, stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  before(async () => {
    testDb = await createTestDatabase('reconcile_cli');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    await insertProducts(testDb.db, 'acme', items);
    await waitFor(() => outboxDrained(testDb.db));
    await worker.stop();
    const dir = await mkdtemp(join(tmpdir(), 'vectorsync-reconcile-'));
    configPath = join(dir, 'vectorsync.config.json');
    await writeFile(
      configPath,
      JSON.stringify({ ...demoConfig({ dimensions: 64 }), databaseUrl: testDb.url }),
    );
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('exits 0 in sync, 2 with drift (listing it), and 0 after --fix', async () => {
    const clean = await cli('--json', '--no-progress');
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal((JSON.parse(clean.stdout) as ReconcileReport[])[0]?.inSync, true);

    const location = runtime.activeTarget('products').record.location;
    const gone = items.slice(0, 2).map((item) => item.article_id);
    await testDb.db.query(`DELETE FROM vectorsync."${location}" WHERE id = ANY($1)`, [gone]);
    const drift = await cli();
    assert.equal(drift.code, 2, drift.stderr);
    assert.match(drift.stdout, /missing\s+2\s+/);
    for (const id of gone) assert.ok(drift.stdout.includes(`acme/${id}`), `${id} is listed`);
    assert.match(drift.stderr, /checksums/, 'a progress bar on stderr');

    const dryRun = await cli('--dry-run');
    assert.equal(dryRun.code, 2);
    for (const id of gone) assert.ok(dryRun.stdout.includes(`would upsert products/acme/${id} (missing`));

    const fixed = await cli('--fix');
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.match(fixed.stdout, /2 made/);
    assert.equal((await cli()).code, 0);
  });

  it('names an unknown collection', async () => {
    const result = await cli('--collection', 'produkts');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /UNKNOWN_COLLECTION: unknown collection "produkts"/);
  });
});
