import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { EventBus } from '../bus/event-bus.js';
import type { SyncConfig } from '../config/config-schema.js';
import { coerceError, ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { OUTBOX_CHANNEL } from '../outbox/outbox-channel.js';
import {
  type ClaimedEvent,
  claimEvents,
  completeEvents,
  type EventRetry,
  nextRunAfter,
  pruneDoneEvents,
  releaseOrphanedClaims,
  rescueAbandonedEvents,
  retryOrFailEvents,
} from '../outbox/outbox-queue.js';
import { type AppliedLag, workKindOfOrigin } from '../outbox/work-kind.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier, type ApplyStats } from './applier.js';
import { backoffDelay, requestedWaitMs } from './backoff.js';
import { ChangeRouter } from './change-router.js';
import { NotifyListener } from './notify-listener.js';
import { WakeSignal } from './wake-signal.js';
import { forgetDeadWorkers, registerWorker, unregisterWorker } from './worker-registry.js';

export { OUTBOX_CHANNEL } from '../outbox/outbox-channel.js';

export interface BatchReport {
  workerId: string;
  claimed: number;
  done: number;
  retried: number;
  failed: number;
  durationMs: number;
  stats: ApplyStats;
  /** Of the done events, how many were handed to the event bus rather than applied. */
  published: number;
  /** Per applied event: milliseconds from its capture to the moment it was applied. */
  lags: AppliedLag[];
  byCollection: Record<string, { done: number; retried: number; failed: number }>;
}

export interface OutboxWorkerEvents {
  batch: [BatchReport];
  /** Events that used their last attempt and are now `failed`. */
  failed: [{ ids: string[]; errors: Map<string, string> }];
  error: [Error];
  paused: [{ collection: string; untilMs: number; reason: string }];
}

export interface OutboxWorkerOptions {
  runtime: VectorsyncRuntime;
  /** Default: every collection (the outbox is every mode's retry queue). */
  collections?: string[];
  sync?: Partial<SyncConfig>;
  workerId?: string;
  logger?: Logger;
  /** Where collections with `sync.bus` publish; without it their events are applied directly. */
  bus?: EventBus;
}

/**
 * Drains the outbox: claims batches with FOR UPDATE SKIP LOCKED, applies them, then marks
 * them done or schedules retries. Any number of workers in any number of processes may run
 * against one database. A worker that dies (even SIGKILL) stops heartbeating and its claimed
 * events return to pending, so nothing is lost; the version guard makes the re-apply harmless.
 */
export class OutboxWorker extends EventEmitter<OutboxWorkerEvents> {
  readonly id: string;
  private readonly runtime: VectorsyncRuntime;
  private readonly sync: SyncConfig;
  private readonly collections: string[];
  private readonly logger: Logger;
  private readonly router: ChangeRouter;
  private readonly wake = new WakeSignal();
  private readonly pausedUntil = new Map<string, { until: number; failures: number }>();
  private listener: NotifyListener | undefined;
  private loops: Promise<void>[] = [];
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  private lastPrune = 0;
  /** Events claimed by this worker's loops and not settled yet. */
  private readonly held = new Set<string>();
  /** Claims and the release of orphaned claims run one at a time, so `held` is exact meanwhile. */
  private claimQueue: Promise<unknown> = Promise.resolve();
  private claimsInFlight = 0;
  /** A claim failed: its UPDATE may have committed with the answer lost. */
  private claimsInDoubt = false;

  constructor(options: OutboxWorkerOptions) {
    super();
    // Errors are logged and retried here; an 'error' listener is optional, so emitting one must never throw.
    this.on('error', () => undefined);
    this.runtime = options.runtime;
    this.sync = { ...options.runtime.config.sync, ...options.sync };
    // Every collection: besides captured changes, the outbox carries backfills, dual-write
    // drift and retried CDC failures for all modes.
    this.collections = options.collections ?? [...options.runtime.collections.keys()];
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.logger = (options.logger ?? options.runtime.logger).child({ worker: this.id });
    this.router = new ChangeRouter(this.runtime, new Applier(this.runtime, this.logger), options.bus);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.wake.reset();
    const db = this.runtime.db;
    await registerWorker(db, {
      id: this.id,
      hostname: hostname(),
      pid: process.pid,
      collections: this.collections,
    });
    if (this.sync.wake === 'notify') {
      this.listener = new NotifyListener({
        db,
        channel: OUTBOX_CHANNEL,
        onNotification: (collection) => {
          if (collection === '' || this.collections.includes(collection)) this.wake.wake();
        },
        onConnected: () => this.wake.wake(),
        heartbeatMs: this.sync.heartbeatMs,
        reconnectMaxMs: this.sync.listenReconnectMaxMs,
        logger: this.logger,
      });
      await this.listener.start();
    }
    const maintenance = setInterval(() => void this.maintain(), this.sync.heartbeatMs);
    maintenance.unref();
    this.timers.push(maintenance);
    this.loops = Array.from({ length: this.sync.concurrency }, (_, index) => this.loop(index));
    this.logger.info(
      { collections: this.collections, wake: this.sync.wake, concurrency: this.sync.concurrency },
      'outbox worker started',
    );
  }

  /** Finishes the batches in flight, then stops. Claimed-but-unstarted work does not exist. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    // Every loop, not just those waiting now: one between its claim and its wait must not
    // sleep on until the sweep.
    this.wake.close();
    await Promise.all(this.loops);
    await this.listener?.stop();
    await unregisterWorker(this.runtime.db, this.id).catch((error) =>
      this.logger.warn({ err: coerceError(error).message }, 'could not unregister worker'),
    );
    this.logger.info({}, 'outbox worker stopped');
  }

  /** Wakes idle loops now (used after a known write, and by tests). */
  poke(): void {
    this.wake.wake();
  }

  private async loop(index: number): Promise<void> {
    let dbFailures = 0;
    while (this.running) {
      const collections = this.claimableCollections();
      try {
        if (collections.length === 0) {
          await this.wake.wait(this.msUntilUnpause());
          continue;
        }
        if (this.claimsInDoubt) await this.releaseOrphans();
        const events = await this.claim(collections);
        dbFailures = 0;
        if (events.length === 0) {
          await this.wake.wait(await this.idleWait(collections));
          continue;
        }
        try {
          await this.process(events);
        } finally {
          // Settled, or (process threw) left processing under our id: the release returns those.
          for (const event of events) this.held.delete(event.eventId);
        }
      } catch (error) {
        dbFailures++;
        const delay = backoffDelay(dbFailures, 200, this.sync.backoffMaxMs);
        const err = coerceError(error);
        this.logger.error({ loop: index, err: err.message, retryInMs: delay }, 'outbox loop error');
        this.emit('error', err);
        await this.wake.wait(delay);
      }
    }
  }

  private async claim(collections: string[]): Promise<ClaimedEvent[]> {
    return this.oneAtATime(async () => {
      try {
        const events = await claimEvents(this.runtime.db, {
          workerId: this.id,
          collections,
          limit: this.sync.batchSize,
        });
        for (const event of events) this.held.add(event.eventId);
        return events;
      } catch (error) {
        // The connection may have broken after the UPDATE committed: those events are ours now,
        // and with our heartbeat going on, no rescue would ever take them back.
        this.claimsInDoubt = true;
        throw error;
      }
    });
  }

  /** Returns to pending what this worker holds but no loop of it processes (see releaseOrphanedClaims). */
  private async releaseOrphans(): Promise<void> {
    await this.oneAtATime(async () => {
      this.claimsInDoubt = false;
      try {
        const released = await releaseOrphanedClaims(this.runtime.db, this.id, [...this.held]);
        if (released > 0) {
          this.logger.warn({ released }, 'returned claimed events no loop was processing to the queue');
          this.wake.wake();
        }
      } catch (error) {
        this.claimsInDoubt = true;
        throw error;
      }
    });
  }

  private async oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    this.claimsInFlight++;
    const turn = this.claimQueue.then(work);
    this.claimQueue = turn.catch(() => undefined);
    try {
      return await turn;
    } finally {
      this.claimsInFlight--;
    }
  }

  private claimableCollections(): string[] {
    const now = Date.now();
    return this.collections.filter((collection) => (this.pausedUntil.get(collection)?.until ?? 0) <= now);
  }

  private msUntilUnpause(): number {
    const now = Date.now();
    const ends = [...this.pausedUntil.values()].map((pause) => pause.until - now).filter((ms) => ms > 0);
    return Math.min(this.sync.sweepIntervalMs, ...ends);
  }

  private async idleWait(collections: string[]): Promise<number> {
    const sweep = this.sync.wake === 'poll' ? this.sync.pollIntervalMs : this.sync.sweepIntervalMs;
    const next = await nextRunAfter(this.runtime.db, collections);
    if (!next) return sweep;
    return Math.max(5, Math.min(sweep, next.getTime() - Date.now() + 5));
  }

  private async process(events: ClaimedEvent[]): Promise<void> {
    const started = performance.now();
    const { outcomes, stats, published } = await this.router.route(events);
    const done: string[] = [];
    const retries: EventRetry[] = [];
    const unavailable = new Map<string, { reason: string; waitMs: number }>();
    for (const event of events) {
      const outcome = outcomes.get(event.eventId) ?? { status: 'applied' as const };
      if (outcome.status !== 'failed') {
        done.push(event.eventId);
        continue;
      }
      // A rate-limited provider or a spent budget names how long to wait; the rest back off.
      const waitMs = outcome.transient ? requestedWaitMs(outcome.error) : 0;
      // A spent budget may hold back one tenant only: its events wait, the collection goes on.
      if (outcome.transient && outcome.code !== ErrorCode.EmbeddingBudgetExhausted) {
        const known = unavailable.get(event.collection);
        unavailable.set(event.collection, {
          reason: outcome.error.message,
          waitMs: Math.max(waitMs, known?.waitMs ?? 0),
        });
      }
      const pause = this.pausedUntil.get(event.collection);
      retries.push({
        id: event.eventId,
        error: outcome.error.message,
        code: outcome.code,
        // A named wait is what the provider (or the budget's recheck) asked for: no more, or a
        // throttled collection would drift towards backoffMaxMs however short the waits are.
        delayMs:
          waitMs > 0
            ? waitMs
            : outcome.transient
              ? backoffDelay((pause?.failures ?? 0) + 1, this.sync.backoffBaseMs, this.sync.backoffMaxMs)
              : backoffDelay(event.attempts, this.sync.backoffBaseMs, this.sync.backoffMaxMs),
        countAttempt: !outcome.transient,
      });
    }
    const finishedAt = Date.now();
    const { failed } = await this.persistOutcome(done, retries);
    this.updatePauses(events, unavailable);

    const doneSet = new Set(done);
    const failedSet = new Set(failed);
    const byCollection: BatchReport['byCollection'] = {};
    for (const event of events) {
      byCollection[event.collection] ??= { done: 0, retried: 0, failed: 0 };
      const counts = byCollection[event.collection]!;
      if (doneSet.has(event.eventId)) counts.done++;
      else if (failedSet.has(event.eventId)) counts.failed++;
      else counts.retried++;
    }
    const report: BatchReport = {
      workerId: this.id,
      claimed: events.length,
      done: done.length,
      retried: retries.length - failed.length,
      failed: failed.length,
      durationMs: performance.now() - started,
      stats,
      published: [...published].filter((id) => doneSet.has(id)).length,
      // Published events are not searchable yet: the bus consumer measures their lag.
      lags: events
        .filter((event) => doneSet.has(event.eventId) && !published.has(event.eventId))
        .map((event) => ({
          collection: event.collection,
          work: workKindOfOrigin(event.origin),
          ms: finishedAt - event.createdAt.getTime(),
        })),
      byCollection,
    };
    this.emit('batch', report);
    if (failed.length > 0) {
      const errors = new Map(
        retries.filter((retry) => failedSet.has(retry.id)).map((retry) => [retry.id, retry.error]),
      );
      this.logger.error(
        { events: failed, errors: Object.fromEntries(errors) },
        'events failed after their last attempt',
      );
      this.emit('failed', { ids: failed, errors });
    }
  }

  /** The store write already happened; losing this update would re-apply (harmlessly), so retry it. */
  private async persistOutcome(done: string[], retries: EventRetry[]): Promise<{ failed: string[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        await completeEvents(this.runtime.db, this.id, done);
        return await retryOrFailEvents(this.runtime.db, this.id, retries, this.sync.maxAttempts);
      } catch (error) {
        if (!this.running && attempt > 3) throw error;
        const delay = backoffDelay(attempt, 200, 10_000);
        this.logger.warn(
          { err: coerceError(error).message, retryInMs: delay },
          'could not record batch outcome; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** A store or embedder that is down pauses its collection instead of burning every event's attempts. */
  private updatePauses(
    events: ClaimedEvent[],
    unavailable: Map<string, { reason: string; waitMs: number }>,
  ): void {
    for (const collection of new Set(events.map((event) => event.collection))) {
      const problem = unavailable.get(collection);
      if (problem === undefined) {
        if (this.pausedUntil.delete(collection)) this.logger.info({ collection }, 'collection resumed');
        continue;
      }
      const { reason } = problem;
      const failures = (this.pausedUntil.get(collection)?.failures ?? 0) + 1;
      const delay =
        problem.waitMs > 0
          ? problem.waitMs
          : backoffDelay(failures, this.sync.backoffBaseMs, this.sync.backoffMaxMs);
      this.pausedUntil.set(collection, { until: Date.now() + delay, failures });
      this.logger.warn(
        { collection, failures, pauseMs: delay, reason },
        'store or embedder unavailable; pausing collection',
      );
      this.emit('paused', { collection, untilMs: delay, reason });
    }
  }

  private async maintain(): Promise<void> {
    if (!this.running) return;
    const db = this.runtime.db;
    try {
      // An upsert, not an update: a worker whose row was forgotten during a long partition re-registers.
      await registerWorker(db, {
        id: this.id,
        hostname: hostname(),
        pid: process.pid,
        collections: this.collections,
      });
      const rescued = await rescueAbandonedEvents(db, this.sync.workerTimeoutMs, this.sync.maxCrashes);
      if (rescued > 0) {
        this.logger.warn({ rescued }, 'returned events of a lost worker to the queue');
        this.wake.wake();
      }
      // Also a sweep for any other way a claim of ours could be left unprocessed.
      if (this.claimsInFlight === 0) await this.releaseOrphans();
      if (Date.now() - this.lastPrune >= this.sync.pruneIntervalMs) {
        this.lastPrune = Date.now();
        const pruned = await pruneDoneEvents(db, this.sync.retentionHours);
        for (const name of this.collections) {
          const collection = this.runtime.collection(name);
          for (const target of collection.targets) await target.store.maintain?.(target.spec);
        }
        await forgetDeadWorkers(db, Math.max(3_600_000, this.sync.workerTimeoutMs * 10));
        if (pruned > 0) this.logger.info({ pruned }, 'pruned done events past retention');
      }
    } catch (error) {
      this.logger.warn({ err: coerceError(error).message }, 'worker maintenance failed');
    }
  }
}
