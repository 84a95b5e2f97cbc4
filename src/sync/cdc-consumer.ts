import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { EventBus } from '../bus/event-bus.js';
import { formatLsn, type Lsn } from '../capture/cdc/lsn.js';
import { ReplicationConnection } from '../capture/cdc/replication-connection.js';
import { invisibleTransactions } from '../capture/cdc/transaction-visibility.js';
import type { CdcConfig } from '../config/config-schema.js';
import { PgDatabase } from '../db/pg-database.js';
import { coerceError, ErrorCode, errorCodeOf, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { deferEvents, recordFailedEvents } from '../outbox/outbox-records.js';
import type { AppliedLag } from '../outbox/work-kind.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier, type ApplyStats, emptyApplyStats } from './applier.js';
import { backoffDelay, isDeferral, requestedWaitMs } from './backoff.js';
import { CdcApplyMarker, type CrashSuspect } from './cdc-apply-marker.js';
import { mergeRouted, splitByRow, takeBatch } from './cdc-batching.js';
import { CdcChangeExtractor, type CdcTransaction } from './cdc-change-extractor.js';
import type { ChangeEvent, EventOutcome } from './change-event.js';
import { ChangeRouter } from './change-router.js';

/** Quick retries inside one replication session before it is given up and reconnected. */
const IN_SESSION_ATTEMPTS = 3;

export interface CdcBatchReport {
  transactions: number;
  events: number;
  failed: number;
  confirmedLsn: string;
  durationMs: number;
  stats: ApplyStats | undefined;
  /** Events handed to the event bus (their lag is measured by the bus consumer). */
  published: number;
  /** Per event: milliseconds from its transaction's commit to the moment it was applied. */
  lags: AppliedLag[];
}

export interface CdcConsumerEvents {
  batch: [CdcBatchReport];
  error: [Error];
  connected: [{ slot: string; from: string }];
}

export interface CdcConsumerOptions {
  runtime: VectorsyncRuntime;
  collections?: string[];
  cdc?: Partial<CdcConfig>;
  logger?: Logger;
  consumerId?: string;
  /** Where collections with `sync.bus` publish; without it their changes are applied directly. */
  bus?: EventBus;
}

/**
 * Streams changes from the permanent logical replication slot (pgoutput) and applies them
 * through the same applier as every other mode. The slot's flush position is confirmed only
 * after the index write for those transactions has committed, so a crash, a restart or a lost
 * connection resumes from the last applied transaction: nothing is lost, and what is replayed
 * is absorbed by the version guard. A change that cannot be applied goes to the failed list
 * (the outbox, origin 'cdc') and the slot keeps advancing; an unavailable store or embedder
 * stops the stream (back-pressure, nothing confirmed) until it comes back.
 */
export class CdcConsumer extends EventEmitter<CdcConsumerEvents> {
  readonly id: string;
  private readonly runtime: VectorsyncRuntime;
  private readonly cdc: CdcConfig;
  private readonly logger: Logger;
  private readonly router: ChangeRouter;
  private readonly extractor: CdcChangeExtractor;
  private connection: ReplicationConnection | undefined;
  private ready: CdcTransaction[] = [];
  private readyEvents = 0;
  private confirmed: Lsn = 0n;
  private processing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private sessionEnded: (() => void) | undefined;
  private failures = 0;
  /** Set when applying failed for good in this session: it is being ended and restarted. */
  private sessionBroken = false;
  /** Commit time of the first transaction of the batch being applied. */
  private inFlightSince: Date | undefined;
  /** Set when a predecessor died applying changes: up to there, changes are applied one by one. */
  private suspect: CrashSuspect | undefined;
  private readonly marker: CdcApplyMarker;
  /** Resolves once the session's crash marker has been read; nothing is applied before. */
  private sessionReady: Promise<void> = Promise.resolve();

  constructor(options: CdcConsumerOptions) {
    super();
    // Errors are logged and retried here; an 'error' listener is optional, so emitting one must never throw.
    this.on('error', () => undefined);
    this.runtime = options.runtime;
    this.cdc = { ...options.runtime.config.cdc, ...options.cdc };
    this.id = options.consumerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.logger = (options.logger ?? options.runtime.logger).child({ cdc: this.cdc.slot, consumer: this.id });
    this.router = new ChangeRouter(this.runtime, new Applier(this.runtime, this.logger), options.bus);
    this.marker = new CdcApplyMarker(this.runtime.db, this.cdc.slot, this.id);
    const names =
      options.collections ??
      [...options.runtime.collections.values()]
        .filter((c) => c.definition.config.sync.mode === 'cdc')
        .map((c) => c.name);
    this.extractor = new CdcChangeExtractor(names.map((name) => this.runtime.collection(name)));
  }

  get collections(): string[] {
    return this.extractor.collections;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.statusTimer = setInterval(
      () => {
        this.connection?.sendStatus(this.confirmed);
        void this.recordProgress(undefined);
      },
      Math.min(this.cdc.statusIntervalMs, 2000),
    );
    this.statusTimer.unref();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.statusTimer);
    clearTimeout(this.flushTimer);
    await this.processing;
    await this.connection?.close();
    this.sessionEnded?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const session = this.connect();
      await session;
      if (!this.running) break;
      this.failures++;
      const delay = backoffDelay(this.failures, 200, this.cdc.reconnectMaxMs);
      this.logger.warn({ retryInMs: delay }, 'replication session ended; reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** One replication session; resolves when it ends for any reason. */
  private async connect(): Promise<void> {
    const pool = (this.runtime.db as PgDatabase).pool as pg.Pool | undefined;
    if (!(this.runtime.db instanceof PgDatabase) || !pool) {
      throw new VectorsyncError(
        ErrorCode.ConfigInvalid,
        'CDC needs a Postgres server (logical replication); the embedded demo database has none',
      );
    }
    // Anything received but not confirmed is re-sent by the server after a reconnect.
    this.extractor.reset();
    this.sessionBroken = false;
    this.ready = [];
    this.readyEvents = 0;
    const connection = new ReplicationConnection({
      ...(pool.options as pg.ClientConfig),
      application_name: `vectorsync-cdc:${this.cdc.slot}`,
    });
    this.connection = connection;
    const ended = new Promise<void>((resolve) => {
      this.sessionEnded = resolve;
      connection.on('end', () => resolve());
      connection.on('error', (error) => {
        if (/is active for PID/.test(error.message))
          this.logger.info({}, 'slot is held by another consumer; standing by');
        else {
          this.logger.warn({ err: error.message }, 'replication connection error');
          this.emit('error', error);
        }
        resolve();
      });
    });
    connection.on('data', ({ payload }) => {
      const committed = this.extractor.accept(payload);
      if (!committed) return;
      this.ready.push(committed);
      this.readyEvents += committed.events.length;
      this.scheduleFlush();
    });
    connection.on('keepalive', ({ walEnd, replyRequested }) => {
      // Nothing received is waiting to be applied: everything up to the server's position is done.
      if (!this.extractor.openSince && this.ready.length === 0 && !this.processing && walEnd > this.confirmed)
        this.confirmed = walEnd;
      if (replyRequested) connection.sendStatus(this.confirmed);
    });
    let markReady!: () => void;
    this.sessionReady = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    try {
      await connection.start(this.cdc.slot, this.cdc.publication, 0n);
      // The slot is ours now: did the previous holder die applying what it will resend?
      // A session of this same consumer that broke mid-way keeps its suspect: the marker is its own.
      const predecessorDied = await this.marker.takeOver();
      this.suspect = predecessorDied ?? this.suspect;
      if (predecessorDied) {
        this.logger.warn(
          {
            lsn: formatLsn(predecessorDied.lsn),
            event: predecessorDied.event,
            crashes: predecessorDied.crashes,
          },
          'the previous consumer died applying changes; applying them one by one',
        );
      }
      this.logger.info({ slot: this.cdc.slot }, 'streaming changes');
      this.emit('connected', { slot: this.cdc.slot, from: formatLsn(this.confirmed) });
    } catch (error) {
      const err = coerceError(error);
      this.logger.warn({ err: err.message }, 'could not start replication');
      this.emit('error', err);
      this.sessionBroken = true;
      markReady();
      await connection.close();
      return;
    }
    markReady();
    await ended;
    await connection.close();
    this.connection = undefined;
  }

  private scheduleFlush(): void {
    if (this.readyEvents >= this.cdc.batchSize * 4) this.connection?.pause();
    if (this.readyEvents >= this.cdc.batchSize) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      void this.flush();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.flush();
      }, this.cdc.batchDelayMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.processing) return;
    this.processing = this.drain().finally(() => {
      this.processing = undefined;
    });
    await this.processing;
  }

  /** Applies ready transactions batch by batch; confirms the slot after each applied batch. */
  private async drain(): Promise<void> {
    await this.sessionReady;
    while (this.running && !this.sessionBroken && this.ready.length > 0) {
      if (this.suspect && this.ready[0]!.endLsn > this.suspect.lsn) this.suspect = undefined;
      // Up to where a predecessor died, one transaction per batch (applied change by change).
      const batch = takeBatch(this.ready, this.cdc.batchSize, this.suspect !== undefined);
      this.readyEvents -= batch.reduce((sum, transaction) => sum + transaction.events.length, 0);
      if (!(await this.applyBatch(batch))) return;
      if (this.readyEvents < this.cdc.batchSize * 2) this.connection?.resume();
    }
  }

  /**
   * Where the consumer is, for `sync status`: the confirmed position, the last applied commit,
   * and the commit time of the oldest change received but not applied (lag in seconds).
   */
  private async recordProgress(lastCommit: Date | undefined): Promise<void> {
    const oldest = this.inFlightSince ?? this.ready[0]?.commitTime ?? this.extractor.openSince ?? null;
    await this.runtime.db
      .query(
        `INSERT INTO vectorsync.cdc_progress (slot, collections, confirmed_lsn, last_commit_time, last_applied_at, pending_since, consumer, updated_at)
         VALUES ($1, $2, $3::pg_lsn, $4, CASE WHEN $4::timestamptz IS NOT NULL THEN now() END, $5, $6, now())
         ON CONFLICT (slot) DO UPDATE SET collections = EXCLUDED.collections, confirmed_lsn = EXCLUDED.confirmed_lsn,
           last_commit_time = coalesce(EXCLUDED.last_commit_time, cdc_progress.last_commit_time),
           last_applied_at = coalesce(EXCLUDED.last_applied_at, cdc_progress.last_applied_at),
           pending_since = EXCLUDED.pending_since, consumer = EXCLUDED.consumer, updated_at = now()`,
        [this.cdc.slot, this.collections, formatLsn(this.confirmed), lastCommit ?? null, oldest, this.id],
      )
      .catch((error: Error) => this.logger.warn({ err: error.message }, 'could not record CDC progress'));
  }

  /**
   * Routes a batch as `applyConcurrency` concurrent parts split by row, so the index writes run
   * on several database sessions (an HNSW insert is CPU-bound in its backend). Events of one row
   * stay in one part; a batch holding a TRUNCATE is routed whole, since it orders everything.
   */
  private async routeInParts(events: ChangeEvent[]): ReturnType<ChangeRouter['route']> {
    const groups = splitByRow(events, this.cdc.applyConcurrency);
    if (groups.length === 1) return this.router.route(groups[0]!);
    return mergeRouted(await Promise.all(groups.map((group) => this.router.route(group))));
  }

  /**
   * Waits until every transaction of the batch is visible to new snapshots. The stream can
   * deliver a commit before it is (a writer waiting for a synchronous standby); applying it
   * then would re-read the old row state and confirm the slot past the change for good.
   */
  private async untilVisible(batch: readonly CdcTransaction[]): Promise<void> {
    let waiting = [...new Set(batch.map((transaction) => transaction.xid))];
    let since: Date | undefined;
    for (let round = 0; ; round++) {
      waiting = await invisibleTransactions(this.runtime.db, waiting);
      if (waiting.length === 0) break;
      if (!this.running || this.sessionBroken)
        throw new VectorsyncError(
          ErrorCode.Aborted,
          'stopped while waiting for transactions to become visible',
        );
      if (!since) {
        since = new Date();
        await this.recordInvisible(waiting, since);
      }
      if (round === 200) {
        this.logger.warn(
          { xids: waiting, sinceMs: Date.now() - since.getTime() },
          'committed transactions are not visible yet (a writer waiting for a synchronous standby?); their changes wait',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** round, 50)));
    }
    if (since) {
      this.logger.info({ waitedMs: Date.now() - since.getTime() }, 'transactions became visible; applying');
      await this.recordInvisible(null, null);
    }
  }

  private async recordInvisible(xids: number[] | null, since: Date | null): Promise<void> {
    await this.runtime.db
      .query(
        `INSERT INTO vectorsync.cdc_progress (slot, collections, invisible_xids, invisible_since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (slot) DO UPDATE SET invisible_xids = EXCLUDED.invisible_xids, invisible_since = EXCLUDED.invisible_since`,
        [this.cdc.slot, this.collections, xids, since],
      )
      .catch((error: Error) => this.logger.warn({ err: error.message }, 'could not record CDC progress'));
  }

  /**
   * A predecessor died applying this transaction (or the batch holding it): each change is
   * applied alone, marked first, so a change that kills consumers is the only one whose crash
   * count grows; at sync.maxCrashes it goes to the failed list and the slot moves on.
   */
  private async routeOneByOne(transaction: CdcTransaction): ReturnType<ChangeRouter['route']> {
    const parts: Array<Awaited<ReturnType<ChangeRouter['route']>>> = [];
    const suspect = this.suspect!;
    const { maxCrashes } = this.runtime.config.sync;
    for (const [index, event] of transaction.events.entries()) {
      const crashes =
        suspect.event === null
          ? suspect.crashes
          : suspect.lsn === transaction.endLsn && suspect.event === index
            ? suspect.crashes
            : 0;
      if (crashes >= maxCrashes) {
        const error = new VectorsyncError(
          ErrorCode.WorkerLost,
          `${crashes} CDC consumers died applying this change (sync.maxCrashes ${maxCrashes}); set aside`,
          {
            details: { collection: event.collection, id: event.sourceId, lsn: formatLsn(transaction.endLsn) },
          },
        );
        parts.push({
          outcomes: new Map([
            [event.eventId, { status: 'failed', error, code: errorCodeOf(error), transient: false }],
          ]),
          stats: emptyApplyStats(),
          published: new Set(),
        });
        continue;
      }
      await this.marker.mark(transaction.endLsn, index, crashes);
      parts.push(await this.router.route([event]));
    }
    return mergeRouted(parts);
  }

  /** Applies one batch and confirms it; false when the session had to be given up. */
  private async applyBatch(batch: CdcTransaction[]): Promise<boolean> {
    const started = performance.now();
    this.inFlightSince = batch[0]?.commitTime;
    const events = batch.flatMap((transaction) => transaction.events);
    let failedCount = 0;
    let stats: ApplyStats | undefined;
    let published = new Set<string>();
    // Changes that failed or were deferred to the outbox: not applied, so not a lag sample.
    let notApplied = new Set<string>();
    const last = batch[batch.length - 1]!;
    const isolated = this.suspect !== undefined;
    let marked = false;
    for (let attempt = 1; this.running; attempt++) {
      try {
        // Never re-read a row before its change is visible: the read would see the old state.
        await this.untilVisible(batch);
        let routed: Awaited<ReturnType<CdcConsumer['routeInParts']>> | undefined;
        if (isolated) {
          routed = await this.routeOneByOne(batch[0]!);
          marked = true;
        } else if (events.length > 0) {
          await this.marker.mark(last.endLsn, null, 0);
          marked = true;
          routed = await this.routeInParts(events);
        }
        const outcomes = routed?.outcomes ?? new Map<string, EventOutcome>();
        notApplied = new Set(
          [...outcomes].filter(([, outcome]) => outcome.status === 'failed').map(([eventId]) => eventId),
        );
        stats = routed?.stats;
        published = routed?.published ?? new Set();
        const transient = [...outcomes.values()].find(
          (outcome): outcome is Extract<EventOutcome, { status: 'failed' }> =>
            outcome.status === 'failed' && outcome.transient && !isDeferral(outcome.error),
        );
        if (transient) throw transient.error;
        // A provider at its rate limit, or a spent budget, holds back only its own collections:
        // their changes wait in the outbox (pending, retried when the wait is over) and the
        // slot moves on for everyone else.
        const deferred = events.flatMap((event) => {
          const outcome = outcomes.get(event.eventId);
          return outcome?.status === 'failed' && outcome.transient
            ? [
                {
                  event,
                  error: outcome.error.message,
                  code: outcome.code,
                  waitMs: requestedWaitMs(outcome.error),
                },
              ]
            : [];
        });
        if (deferred.length > 0) {
          await deferEvents(this.runtime.db, deferred, 'cdc');
          this.logger.warn(
            {
              deferred: deferred.length,
              collections: [...new Set(deferred.map((item) => item.event.collection))],
            },
            'changes held back by an embedding rate limit or budget; queued in the outbox',
          );
        }
        const failed = events.flatMap((event) => {
          const outcome = outcomes.get(event.eventId);
          return outcome?.status === 'failed' && !outcome.transient
            ? [{ event, error: outcome.error.message, code: outcome.code }]
            : [];
        });
        failedCount = failed.length;
        if (failed.length > 0) {
          // Kept, visible and retryable in the failed list; the slot moves on.
          await recordFailedEvents(this.runtime.db, failed, 'cdc');
          this.logger.error(
            {
              events: failed.map(({ event, code, error }) => ({
                collection: event.collection,
                id: event.sourceId,
                code,
                err: error,
              })),
            },
            'changes could not be applied; recorded as failed',
          );
        }
        break;
      } catch (error) {
        if (!this.running) break;
        const err = coerceError(error);
        this.emit('error', err);
        // Waiting (or giving up) is not applying: a death meanwhile is not the marked change's doing.
        // With the source away this cannot be written; a marker older than the server's start
        // does not count either.
        await this.marker
          .withdraw()
          .catch((withdrawError: Error) =>
            this.logger.warn({ err: withdrawError.message }, 'could not withdraw the apply marker'),
          );
        // Nothing is confirmed while the store or source is away: the slot keeps the changes.
        if (attempt >= IN_SESSION_ATTEMPTS) {
          // Give the session up rather than hold a walsender that the server may need to stop
          // (a shutdown waits for it); the next session resends everything not confirmed.
          this.logger.warn(
            { err: err.message, attempts: attempt },
            'could not apply changes; ending the replication session (slot not advanced)',
          );
          this.sessionBroken = true;
          void this.connection?.close();
          return false;
        }
        const delay = backoffDelay(attempt, 100, 1000);
        this.connection?.pause();
        this.logger.warn(
          { err: err.message, attempt, retryInMs: delay },
          'could not apply changes; retrying (slot not advanced)',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    if (!this.running) return false;
    this.failures = 0;
    if (last.endLsn > this.confirmed) this.confirmed = last.endLsn;
    this.connection?.sendStatus(this.confirmed);
    const appliedAt = Date.now();
    this.inFlightSince = undefined;
    await this.recordProgress(last.commitTime);
    if (marked) {
      await this.marker
        .clear()
        .catch((error: Error) =>
          this.logger.warn({ err: error.message }, 'could not clear the apply marker'),
        );
    }
    this.emit('batch', {
      transactions: batch.length,
      events: events.length,
      failed: failedCount,
      confirmedLsn: formatLsn(this.confirmed),
      durationMs: performance.now() - started,
      stats,
      published: published.size,
      lags: batch.flatMap((transaction) =>
        transaction.events
          .filter((event) => !published.has(event.eventId) && !notApplied.has(event.eventId))
          .map((event) => ({
            collection: event.collection,
            // Streamed from the slot as committed: always a live change.
            work: 'live' as const,
            ms: appliedAt - transaction.commitTime.getTime(),
          })),
      ),
    });
    return true;
  }
}
