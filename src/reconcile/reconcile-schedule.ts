import type { ReconcileConfig } from '../config/config-schema.js';
import { coerceError, ErrorCode, isVectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { lastReconcileStarts } from './reconcile-runs.js';
import type { Reconciler } from './reconciler.js';

/**
 * Runs each collection's reconciliation every `reconcile.schedule.intervalMinutes` in the
 * service. The interval counts from the collection's latest recorded run (by any process, or
 * from this process's start when there is none), so several service processes do not each
 * run it, and a restart does not trigger a run. Collections run one after the other; a run
 * held by another process (advisory lock) is skipped until the next check.
 */
export class ReconcileSchedule {
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> | undefined;
  private readonly startedAt = new Date();
  private stopped = false;
  /** Attempts that could not start (no index yet, embedder mismatch) wait an interval too. */
  private readonly attempts = new Map<string, Date>();

  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly reconciler: Reconciler,
    private readonly schedule: ReconcileConfig['schedule'],
    private readonly logger: Logger,
    /** How often due runs are looked for (default: a minute, or the interval if shorter). */
    private readonly checkEveryMs = Math.min(60_000, schedule.intervalMinutes * 60_000),
  ) {}

  get enabled(): boolean {
    return this.schedule.intervalMinutes > 0;
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(
      () => {
        this.tick ??= this.runDue().finally(() => (this.tick = undefined));
      },
      Math.max(10, this.checkEveryMs),
    );
    this.timer.unref();
    this.logger.info(
      { intervalMinutes: this.schedule.intervalMinutes, fix: this.schedule.fix },
      'reconciliation scheduled',
    );
  }

  /** Stops scheduling, aborts a scheduled run in progress and waits for it to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tick) {
      for (const name of this.scheduledCollections()) this.reconciler.abort(name);
      await this.tick;
    }
  }

  private scheduledCollections(): string[] {
    return this.schedule.collections ?? [...this.runtime.collections.keys()];
  }

  private async runDue(): Promise<void> {
    const intervalMs = this.schedule.intervalMinutes * 60_000;
    let lastStarts: Map<string, Date>;
    try {
      lastStarts = await lastReconcileStarts(this.runtime.db);
    } catch (error) {
      this.logger.warn({ err: coerceError(error).message }, 'could not read reconciliation history');
      return;
    }
    for (const name of this.scheduledCollections()) {
      if (this.stopped) return;
      const last = Math.max(
        (lastStarts.get(name) ?? this.startedAt).getTime(),
        this.attempts.get(name)?.getTime() ?? 0,
      );
      if (Date.now() - last < intervalMs) continue;
      this.attempts.set(name, new Date());
      try {
        await this.reconciler.run({
          collection: name,
          mode: this.schedule.fix ? 'fix' : 'report',
          trigger: 'schedule',
        });
      } catch (error) {
        if (isVectorsyncError(error, ErrorCode.ReconcileInProgress)) {
          this.logger.debug({ collection: name }, 'scheduled reconciliation skipped: one is in progress');
        } else {
          this.logger.warn(
            { collection: name, err: coerceError(error).message },
            'scheduled reconciliation could not start',
          );
        }
      }
    }
  }
}
