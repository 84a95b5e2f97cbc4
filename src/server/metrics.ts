import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import type { OutboxWorker } from '../sync/outbox-worker.js';
import { readSyncStatus } from '../sync/sync-status.js';
import type { SyncWorkers } from '../sync/sync-workers.js';
import { registerIndexOpsMetrics } from './index-ops-metrics.js';

/** Prometheus metrics of one service process; queue depths are read from Postgres at scrape time. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly events: Counter<'collection' | 'outcome'>;
  private readonly batchDuration: Histogram;
  private readonly lag: Histogram<'collection'>;

  constructor(runtime: VectorsyncRuntime) {
    collectDefaultMetrics({ register: this.registry, prefix: 'vectorsync_process_' });
    this.httpDuration = new Histogram({
      name: 'vectorsync_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
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
      help: 'Time from a source change being captured to it being applied to the index',
      labelNames: ['collection'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
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
    // One status query per scrape feeds every queue gauge.
    let snapshot: Promise<Awaited<ReturnType<typeof readSyncStatus>>> | undefined;
    for (const gauge of gauges) {
      new Gauge({
        name: gauge.name,
        help: gauge.help,
        labelNames: ['collection'],
        registers: [this.registry],
        async collect() {
          snapshot ??= readSyncStatus(runtime).finally(() => setTimeout(() => (snapshot = undefined), 100));
          const status = await snapshot;
          this.reset();
          for (const collection of status.collections)
            this.set({ collection: collection.collection }, gauge.pick(collection));
        },
      });
    }
    registerIndexOpsMetrics(this.registry, runtime);
  }

  attachWorkers(workers: SyncWorkers): void {
    this.attachWorker(workers.outbox);
    workers.cdc?.on('batch', (report) => {
      for (const { collection, ms } of report.lags) this.lag.observe({ collection }, ms / 1000);
      const counts = new Map<string, number>();
      for (const { collection } of report.lags) counts.set(collection, (counts.get(collection) ?? 0) + 1);
      for (const [collection, count] of counts) this.events.inc({ collection, outcome: 'done' }, count);
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
      for (const { collection, ms } of report.lags) this.lag.observe({ collection }, ms / 1000);
    });
  }
}
