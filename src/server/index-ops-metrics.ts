import { Gauge, type Registry } from 'prom-client';
import { type IndexStatus, readIndexStatus } from '../indexops/index-status.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';

/**
 * Index-operation gauges, read at scrape time from what the operation's owner records (the
 * build usually runs in a CLI process, not in the service). Alert on progress, not latency:
 * slower than predicted, a silent owner, invalid leftovers.
 */
export function registerIndexOpsMetrics(registry: Registry, runtime: VectorsyncRuntime): void {
  let snapshot: Promise<IndexStatus[]> | undefined;
  const statuses = () => {
    snapshot ??= Promise.all(
      [...runtime.collections.keys()].map((collection) => readIndexStatus(runtime, collection)),
    ).finally(() => setTimeout(() => (snapshot = undefined), 100));
    return snapshot;
  };
  const gauges: Array<{ name: string; help: string; pick: (status: IndexStatus) => number | null }> = [
    {
      name: 'vectorsync_index_operation_running',
      help: 'An index operation (build, rebuild, rehearsal) is running on the collection',
      pick: (status) => (status.running ? 1 : 0),
    },
    {
      name: 'vectorsync_index_build_progress_ratio',
      help: 'Progress of the running index build, 0 to 1',
      pick: (status) => status.running?.progress?.fraction ?? null,
    },
    {
      name: 'vectorsync_index_build_rows_per_minute',
      help: 'Rows the running index build loads per minute (recent window)',
      pick: (status) => status.running?.progress?.rowsPerMinute ?? null,
    },
    {
      name: 'vectorsync_index_build_eta_seconds',
      help: 'Estimated time until the running index build finishes',
      pick: (status) => status.running?.progress?.etaSeconds ?? null,
    },
    {
      name: 'vectorsync_index_build_expected_seconds',
      help: 'Duration of the running build predicted by its rehearsal',
      pick: (status) => status.running?.progress?.expectedSeconds ?? null,
    },
    {
      name: 'vectorsync_index_build_slower_than_predicted',
      help: 'The running build is projected to take meaningfully longer than its rehearsal predicted',
      pick: (status) =>
        status.running
          ? status.running.progress?.slowerThanPredicted ||
            status.running.warnings.some((warning) => warning.code === 'slower_than_predicted')
            ? 1
            : 0
          : null,
    },
    {
      name: 'vectorsync_index_operation_heartbeat_age_seconds',
      help: "Seconds since the running operation's owner last reported (a dead owner stops)",
      pick: (status) => status.running?.heartbeatAgeSeconds ?? null,
    },
    {
      name: 'vectorsync_index_invalid_indexes',
      help: 'Invalid ANN indexes nothing is building (left by interrupted builds)',
      pick: (status) => status.annIndexes.filter((index) => index.state === 'invalid').length,
    },
  ];
  for (const gauge of gauges) {
    new Gauge({
      name: gauge.name,
      help: gauge.help,
      labelNames: ['collection'],
      registers: [registry],
      async collect() {
        const all = await statuses();
        this.reset();
        for (const status of all) {
          const value = gauge.pick(status);
          if (value !== null) this.set({ collection: status.collection }, value);
        }
      },
    });
  }
}
