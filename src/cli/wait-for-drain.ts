import type { Logger } from '../logger.js';
import { drainCounts } from '../outbox/outbox-reads.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { readSyncStatus, type SyncStatus } from '../status/sync-status.js';
import { SyncWorkers } from '../sync/sync-workers.js';
import { ProgressBar } from './progress-bar.js';

export interface WaitForDrainOptions {
  label?: string;
  /**
   * When no live worker serves a collection with open events, apply them in this process
   * (`setup --wait`), rather than wait for a worker that may never come.
   */
  applyWhenNoWorker?: boolean;
  logger?: Logger;
  pollMs?: number;
}

/**
 * Shows progress until every outbox event is applied: done since the wait began over that plus
 * what is still open. With `applyWhenNoWorker`, starts sync workers in this process as soon as
 * a collection has work that no live worker serves (none started yet, or the one there was died),
 * and stops them once everything is applied.
 */
export async function waitForDrain(
  runtime: VectorsyncRuntime,
  options: WaitForDrainOptions = {},
): Promise<void> {
  const label = options.label ?? 'sync';
  const bar = new ProgressBar(label);
  const started = await runtime.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  const since = started.rows[0]!.now;
  let workers: SyncWorkers | undefined;
  try {
    for (;;) {
      const { open, done, failed } = await drainCounts(runtime.db, since);
      if (options.applyWhenNoWorker && !workers && open > 0) {
        const unserved = collectionsWithoutWorker(await readSyncStatus(runtime));
        if (unserved.length > 0) {
          bar.message(
            `no vectorsync worker is running for ${unserved.join(', ')}: applying the queued events in this process (afterwards, run \`vectorsync serve\` or \`vectorsync worker\` to keep the index in sync)`,
          );
          workers = new SyncWorkers(runtime, options.logger ?? runtime.logger, { cdc: false });
          await runtime.warmUp();
          await workers.start();
        }
      }
      bar.update(done, done + open, failed > 0 ? `(${failed} failed)` : '');
      if (open === 0) {
        bar.finish(
          `${label}: ${done} event(s) applied${failed > 0 ? `, ${failed} failed (see \`vectorsync events list --status failed\`)` : ''}`,
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
    }
  } finally {
    await workers?.stop();
  }
}

/** Collections with events to apply that no live worker claims. */
function collectionsWithoutWorker(status: SyncStatus): string[] {
  const served = new Set(
    status.workers.filter((worker) => worker.alive).flatMap((worker) => worker.collections),
  );
  return status.collections
    .filter(
      (collection) => collection.pending + collection.processing > 0 && !served.has(collection.collection),
    )
    .map((collection) => collection.collection);
}
