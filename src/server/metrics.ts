import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AppliedLag } from '../outbox/work-kind.js';
import { latestReconcileRuns } from '../reconcile/reconcile-runs.js';
import type { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type CdcStatus, readSyncStatus } from '../status/sync-status.js';
import type { OutboxWorker } from '../sync/outbox-worker.js';
import type { SyncWorkers } from '../sync/sync-workers.js';
import { registerIndexOpsMetrics } from './index-ops-metrics.js';
import { registerSpendMetrics } from './spend-metrics.js';

/** Prometheus metrics of one service process; queue depths are read from Postgres at scrape time. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly events: Counter<'collection' | 'outcome'>;
  private readonly batchDuration: Histogram;
  private readonly lag: Histogram<'collection' | 'work'>;
  private readonly changes: Counter<'collection' | 'source'>;
  private readonly changeFailures: Counter<'source'>;
  private readonly busRedeliveries: Counter;
  private readonly reconcileRuns: Counter<'collection' | 'mode' | 'status'>;
  private readonly reconcileRepairs: Counter<'collection' | 'outcome'>;
  private readonly reconcileDuration: Histogram<'collection'>;

  constructor(runtime: VectorsyncRuntime) {
    // The standard names (process_cpu_seconds_total, nodejs_heap_size_total_bytes, …) and the
    // conventional HTTP histogram, as dashboards expect them; our own metrics are vectorsync_*.
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.events = new Counter({
      name: 'vectorsync_sync_events_total',
      help: 'Outbox events processed, by outcome (done, retried, failed)',
      labelNames: ['collection', 'outcome'],
      registers: [this.registry],
    });
    this.batchDuration = new Histogram({
      name: 'vectorsync_sync_batch_duration_seconds',
      help: 'Time to apply one claimed batch (read, embed, write, record)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.lag = new Histogram({
      name: 'vectorsync_sync_lag_seconds',
      help: 'Time from a change being captured to it being applied to the index, by kind of work (live, backfill, repair)',
      labelNames: ['collection', 'work'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    // One status query per scrape feeds every queue gauge (and the spend gauges).
    let snapshot: Promise<Awaited<ReturnType<typeof readSyncStatus>>> | undefined;
    const status = () => {
      snapshot ??= readSyncStatus(runtime).finally(() => setTimeout(() => (snapshot = undefined), 100));
      return snapshot;
    };
    this.changes = new Counter({
      name: 'vectorsync_sync_changes_applied_total',
      help: 'Changes applied to the indexes from the replication stream (cdc) or the event bus (bus)',
      labelNames: ['collection', 'source'],
      registers: [this.registry],
    });
    this.changeFailures = new Counter({
      name: 'vectorsync_sync_changes_failed_total',
      help: 'Streamed changes that could not be applied and went to the failed list',
      labelNames: ['source'],
      registers: [this.registry],
    });
    this.busRedeliveries = new Counter({
      name: 'vectorsync_bus_redeliveries_total',
      help: 'Bus messages handed back for redelivery because the store or embedder was unavailable',
      registers: [this.registry],
    });
    for (const [name, help, pick] of [
      [
        'vectorsync_cdc_slot_lag_bytes',
        'WAL written since the CDC consumer last confirmed its position',
        (cdc: CdcStatus) => cdc.lagBytes,
      ],
      [
        'vectorsync_cdc_slot_retained_bytes',
        'WAL the replication slot keeps from being recycled',
        (cdc: CdcStatus) => cdc.retainedBytes,
      ],
      [
        'vectorsync_cdc_lag_seconds',
        'Age of the oldest change in the replication stream not yet applied',
        (cdc: CdcStatus) => cdc.lagSeconds,
      ],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['slot'],
        registers: [this.registry],
        async collect() {
          const current = await status();
          this.reset();
          if (current.cdc) this.set({ slot: current.cdc.slot }, pick(current.cdc));
        },
      });
    }
    this.reconcileRuns = new Counter({
      name: 'vectorsync_reconcile_runs_total',
      help: 'Reconciliation runs finished in this process, by mode and status (completed, aborted, failed)',
      labelNames: ['collection', 'mode', 'status'],
      registers: [this.registry],
    });
    this.reconcileRepairs = new Counter({
      name: 'vectorsync_reconcile_repairs_total',
      help: 'Repairs made by reconciliation in this process, by outcome (repaired, skipped, failed)',
      labelNames: ['collection', 'outcome'],
      registers: [this.registry],
    });
    this.reconcileDuration = new Histogram({
      name: 'vectorsync_reconcile_duration_seconds',
      help: 'Duration of reconciliation runs in this process',
      labelNames: ['collection'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 900],
      registers: [this.registry],
    });
    // From the latest recorded run, whichever process ran it: what alerts should watch.
    let latest: ReturnType<typeof latestReconcileRuns> | undefined;
    const latestRuns = () => {
      latest ??= latestReconcileRuns(runtime.db).finally(() => setTimeout(() => (latest = undefined), 100));
      return latest;
    };
    new Gauge({
      name: 'vectorsync_reconcile_drift_records',
      help: 'Drift found by the latest reconciliation run, by kind (missing, orphaned, stale, unbuildable, in_flight)',
      labelNames: ['collection', 'kind'],
      registers: [this.registry],
      async collect() {
        const runs = await latestRuns();
        this.reset();
        for (const [collection, run] of runs) {
          const { missing, orphaned, stale, unbuildable, inFlight } = run.counts;
          for (const [kind, value] of Object.entries({
            missing,
            orphaned,
            stale,
            unbuildable,
            in_flight: inFlight,
          }))
            this.set({ collection, kind }, value);
        }
      },
    });
    new Gauge({
      name: 'vectorsync_reconcile_last_run_timestamp_seconds',
      help: 'When the latest reconciliation run finished, by status',
      labelNames: ['collection', 'status'],
      registers: [this.registry],
      async collect() {
        const runs = await latestRuns();
        this.reset();
        for (const [collection, run] of runs)
          this.set({ collection, status: run.status }, new Date(run.finishedAt).getTime() / 1000);
      },
    });
    type CollectionStatus = Awaited<ReturnType<typeof readSyncStatus>>['collections'][number];
    const gauges: Array<{ name: string; help: string; pick: (status: CollectionStatus) => number }> = [
      {
        name: 'vectorsync_sync_pending_events',
        help: 'Outbox events waiting to be applied',
        pick: (s) => s.pending,
      },
      {
        name: 'vectorsync_sync_processing_events',
        help: 'Outbox events claimed by a worker',
        pick: (s) => s.processing,
      },
      {
        name: 'vectorsync_sync_failed_events',
        help: 'Outbox events that used all attempts',
        pick: (s) => s.failed,
      },
      {
        name: 'vectorsync_sync_oldest_pending_seconds',
        help: 'Age of the oldest event not yet applied',
        pick: (s) => s.oldestPendingSeconds,
      },
    ];
    for (const gauge of gauges) {
      new Gauge({
        name: gauge.name,
        help: gauge.help,
        labelNames: ['collection'],
        registers: [this.registry],
        async collect() {
          const current = await status();
          this.reset();
          for (const collection of current.collections)
            this.set({ collection: collection.collection }, gauge.pick(collection));
        },
      });
    }
    registerIndexOpsMetrics(this.registry, runtime);
    registerSpendMetrics(this.registry, runtime, status);
  }

  /** Call after `workers.start()` (the CDC consumer is created there). */
  attachWorkers(workers: SyncWorkers): void {
    this.attachWorker(workers.outbox);
    const observe = (source: string, lags: AppliedLag[]) => {
      for (const { collection, work, ms } of lags) this.lag.observe({ collection, work }, ms / 1000);
      const counts = new Map<string, number>();
      for (const { collection } of lags) counts.set(collection, (counts.get(collection) ?? 0) + 1);
      for (const [collection, count] of counts) this.changes.inc({ collection, source }, count);
    };
    workers.cdc?.on('batch', (report) => {
      this.batchDuration.observe(report.durationMs / 1000);
      observe('cdc', report.lags);
      if (report.failed) this.changeFailures.inc({ source: 'cdc' }, report.failed);
    });
    workers.busConsumer?.on('batch', (report) => {
      this.batchDuration.observe(report.durationMs / 1000);
      observe('bus', report.lags);
      if (report.failed) this.changeFailures.inc({ source: 'bus' }, report.failed);
      if (report.redelivered) this.busRedeliveries.inc(report.redelivered);
    });
  }

  attachReconciler(reconciler: Reconciler): void {
    reconciler.on('report', (report) => {
      const collection = report.collection;
      this.reconcileRuns.inc({ collection, mode: report.mode, status: report.status });
      this.reconcileDuration.observe({ collection }, report.durationMs / 1000);
      if (report.repair) {
        this.reconcileRepairs.inc({ collection, outcome: 'repaired' }, report.repair.repaired);
        this.reconcileRepairs.inc({ collection, outcome: 'skipped' }, report.repair.skipped);
        this.reconcileRepairs.inc({ collection, outcome: 'failed' }, report.repair.failed);
      }
    });
  }

  attachWorker(worker: OutboxWorker): void {
    worker.on('batch', (report) => {
      this.batchDuration.observe(report.durationMs / 1000);
      for (const [collection, counts] of Object.entries(report.byCollection)) {
        if (counts.done) this.events.inc({ collection, outcome: 'done' }, counts.done);
        if (counts.retried) this.events.inc({ collection, outcome: 'retried' }, counts.retried);
        if (counts.failed) this.events.inc({ collection, outcome: 'failed' }, counts.failed);
      }
      for (const { collection, work, ms } of report.lags) this.lag.observe({ collection, work }, ms / 1000);
    });
  }
}
