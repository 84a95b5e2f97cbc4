import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import { tryReconcileLock } from '../src/reconcile/reconcile-lock.js';
import type { ReconcileReport } from '../src/reconcile/reconcile-report.js';
import { ReconcileSchedule } from '../src/reconcile/reconcile-schedule.js';
import { Reconciler } from '../src/reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('reconciliation in the service: one run at a time, abort, HTTP, status, metrics, schedule', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let app: FastifyInstance;
  let reconciler: Reconciler;
  let table: string;
  const keys = { admin: '', acme: '' };
  const items = products(200, 91);

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, key = keys.admin) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${key}` } });
  const dropFromIndex = async (count: number) => {
    const ids = items.slice(0, count).map((item) => item.article_id);
    await testDb.db.query(`DELETE FROM vectorsync."${table}" WHERE id = ANY($1)`, [ids]);
    return ids;
  };

  before(async () => {
    testDb = await createTestDatabase('reconcile_service');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    table = runtime.activeTarget('products').record.location;
    worker = new OutboxWorker({ runtime });
    await worker.start();
    await insertProducts(testDb.db, 'acme', items);
    await waitFor(() => outboxDrained(testDb.db));
    reconciler = new Reconciler(runtime);
    const metrics = new ServiceMetrics(runtime);
    metrics.attachReconciler(reconciler);
    app = createServer({ runtime, logger: silentLogger, metrics, reconciler });
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
    keys.acme = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
  });

  after(async () => {
    await app.close();
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('refuses a second concurrent run of the same collection, from any process', async () => {
    const otherProcess = testDb.connect({ max: 2, applicationName: 'other-reconciler' });
    const held = await tryReconcileLock(otherProcess, 'products');
    assert.ok(held, 'the other process holds the lock');
    try {
      await assert.rejects(
        reconcileCollection(runtime, { collection: 'products' }),
        (error: unknown) =>
          isVectorsyncError(error, ErrorCode.ReconcileInProgress) &&
          /already in progress/.test(String(error)),
      );
      const response = await call('POST', '/v1/sync/reconcile?collection=products');
      assert.equal(response.statusCode, 409);
      assert.equal(response.json().error.code, 'RECONCILE_IN_PROGRESS');
    } finally {
      await held.release();
      await otherProcess.close();
    }
    const report = await reconcileCollection(runtime, { collection: 'products' });
    assert.equal(report.status, 'completed', 'the lock is free again');
  });

  it('aborts between pages, leaving a report marked aborted and the lock free', async () => {
    await dropFromIndex(5);
    let pages = 0;
    const report = await reconciler.run({
      collection: 'products',
      mode: 'fix',
      settings: { pageSize: 20 },
      onProgress: (progress) => {
        if (progress.phase === 'checksums' && ++pages === 2) reconciler.abort('products');
      },
    });
    assert.equal(report.status, 'aborted');
    assert.equal(report.inSync, false);
    assert.ok(
      report.sourceRows >= 40 && report.sourceRows < 200,
      `stopped early (${report.sourceRows} rows)`,
    );
    assert.equal(report.repair?.repaired, 0, 'nothing half-done: the abort came before any repair');
    const stored = await testDb.db.query<{ status: string }>(
      `SELECT status FROM vectorsync.reconcile_runs WHERE report->>'runId' = $1`,
      [report.runId],
    );
    assert.equal(stored.rows[0]?.status, 'aborted');
    const again = await reconciler.run({ collection: 'products' });
    assert.equal(again.counts.missing, 5);
  });

  it('DELETE /v1/sync/reconcile aborts the run in progress, which ends with a report marked aborted', async () => {
    let release!: () => void;
    const paused = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const inside = new Promise<void>((resolve) => (reached = resolve));
    const running = reconciler.run({
      collection: 'products',
      settings: { pageSize: 20 },
      onProgress: async () => {
        reached();
        await paused;
      },
    });
    await inside;
    const listed = await call('GET', '/v1/sync/reconcile');
    assert.deepEqual(listed.json().running, ['products']);
    const response = await call('DELETE', '/v1/sync/reconcile?collection=products');
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { aborted: ['products'] });
    release();
    const report: ReconcileReport = await running;
    assert.equal(report.status, 'aborted');
    assert.deepEqual((await call('DELETE', '/v1/sync/reconcile')).json(), { aborted: [] });
  });

  it('POST /v1/sync/reconcile reports, and repairs with ?fix=true (admin keys only)', async () => {
    const forbidden = await call('POST', '/v1/sync/reconcile', keys.acme);
    assert.equal(forbidden.statusCode, 403);
    const badFlag = await call('POST', '/v1/sync/reconcile?fix=maybe');
    assert.equal(badFlag.statusCode, 400);
    assert.match(badFlag.json().error.message, /"fix" must be true or false \(got "maybe"\)/);
    const badParameter = await call('POST', '/v1/sync/reconcile?colection=products');
    assert.equal(badParameter.statusCode, 400);
    assert.match(badParameter.json().error.message, /unknown parameter "colection"/);
    const unknownCollection = await call('POST', '/v1/sync/reconcile?collection=nope');
    assert.equal(unknownCollection.statusCode, 404);

    const report = (await call('POST', '/v1/sync/reconcile')).json().reports[0] as ReconcileReport;
    assert.equal(report.mode, 'report');
    assert.equal(report.trigger, 'http');
    assert.equal(report.counts.missing, 5);
    const dryRun = (await call('POST', '/v1/sync/reconcile?fix=true&dryRun=true')).json().reports[0];
    assert.equal(dryRun.mode, 'dry-run');
    assert.equal(dryRun.repair.planned, 5);
    const fixed = (await call('POST', '/v1/sync/reconcile?collection=products&fix=true')).json().reports[0];
    assert.equal(fixed.repair.repaired, 5);
    const tenantOnly = (await call('POST', '/v1/sync/reconcile?tenant=acme')).json().reports[0];
    assert.equal(tenantOnly.tenant, 'acme');
    assert.equal(tenantOnly.inSync, true);
  });

  it('shows the last run in GET /v1/sync/status and in metrics', async () => {
    await dropFromIndex(3);
    const report = (await call('POST', '/v1/sync/reconcile')).json().reports[0] as ReconcileReport;
    const status = await call('GET', '/v1/sync/status');
    const last = status.json().collections[0].lastReconcile;
    assert.equal(last.runId, report.runId);
    assert.equal(last.status, 'completed');
    assert.equal(last.counts.missing, 3);
    assert.equal(last.durationMs, report.durationMs);
    assert.ok(Date.parse(last.finishedAt) >= Date.parse(last.startedAt));
    assert.equal((await readSyncStatus(runtime)).collections[0]?.lastReconcile?.runId, report.runId);

    const metrics = (await call('GET', '/metrics')).body;
    assert.match(metrics, /vectorsync_reconcile_drift_records\{collection="products",kind="missing"\} 3/);
    assert.match(
      metrics,
      /vectorsync_reconcile_runs_total\{collection="products",mode="report",status="completed"\} \d+/,
    );
    assert.match(metrics, /vectorsync_reconcile_repairs_total\{collection="products",outcome="repaired"\} 5/);
    assert.match(
      metrics,
      /vectorsync_reconcile_last_run_timestamp_seconds\{collection="products",status="completed"\}/,
    );
    const runs = (await call('GET', '/v1/sync/reconcile?collection=products&limit=2')).json().runs;
    assert.equal(runs.length, 2);
    assert.equal(runs[0].runId, report.runId);
  });

  it('runs on the configured schedule, repairing when the schedule says fix', async () => {
    const schedule = new ReconcileSchedule(
      runtime,
      reconciler,
      { intervalMinutes: 0.001, fix: true, collections: ['products'] },
      silentLogger,
      20,
    );
    schedule.start();
    try {
      const run = await waitFor(
        async () =>
          (
            await testDb.db.query<{ report: ReconcileReport }>(
              `SELECT report FROM vectorsync.reconcile_runs WHERE trigger = 'schedule' ORDER BY id DESC LIMIT 1`,
            )
          ).rows[0]?.report,
        { message: 'a scheduled run' },
      );
      assert.equal(run.mode, 'fix');
      assert.equal(run.repair?.repaired, 3);
    } finally {
      await schedule.stop();
    }
    const report = await reconciler.run({ collection: 'products' });
    assert.equal(report.inSync, true);
  });

  it('reports rows that cannot be indexed as their own category, and does not touch them', async () => {
    await worker.stop();
    const [noTenant, noText] = products(2, 92);
    await insertProducts(testDb.db, '', [noTenant!]);
    await insertProducts(testDb.db, 'acme', [
      {
        ...noText!,
        name: '',
        description: null as never,
        product_type: null as never,
        color: null as never,
        department: null as never,
      },
    ]);
    const report = await reconciler.run({ collection: 'products', mode: 'fix' });
    assert.deepEqual(report.counts, {
      missing: 0,
      orphaned: 0,
      stale: 0,
      unbuildable: 2,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    const codes = Object.fromEntries(report.samples.unbuildable.map((sample) => [sample.id, sample.code]));
    assert.deepEqual(codes, {
      [noTenant!.article_id]: 'TENANT_REQUIRED',
      [noText!.article_id]: 'TEMPLATE_FIELD_MISSING',
    });
    assert.equal(report.repair?.planned, 0);
    assert.equal(report.inSync, false);
  });
});
