import { slotInfo } from '../capture/cdc/cdc-setup.js';
import { formatLsn } from '../capture/cdc/lsn.js';
import { type BudgetStanding, budgetStandings, listBudgets } from '../costs/embedding-budgets.js';
import { priceOf } from '../costs/embedding-prices.js';
import { isBilled } from '../costs/metered-embedding.js';
import { type CollectionSpend, emptySpend, readSpend } from '../costs/usage-summary.js';
import type { SqlExecutor } from '../db/database.js';
import {
  latestOutboxErrors,
  outboxCountsByStatus,
  outboxLagSamples,
  outboxOpenByWork,
} from '../outbox/outbox-reads.js';
import { WORK_KINDS, type WorkKind } from '../outbox/work-kind.js';
import { latestReconcileRuns, type ReconcileRunSummary } from '../reconcile/reconcile-runs.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { readCaptureStates, streamedCollections } from '../sync/sync-mode-switch.js';
import { listWorkers } from '../sync/worker-registry.js';

/** Capture-to-applied time of the events applied within the last `windowSeconds`. */
export interface LagStats {
  windowSeconds: number;
  samples: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

/** One kind of work in a collection's outbox queue (see work-kind.ts). */
export interface WorkStatus {
  pending: number;
  processing: number;
  /** Age of the oldest event of this kind not yet applied; 0 when there is none. */
  oldestPendingSeconds: number;
  lag: LagStats;
}

export interface CollectionSyncStatus {
  collection: string;
  mode: string;
  /** A sync-mode switch in progress: both captures run until `vectorsync switch-mode finish`. */
  switching: { from: string; since: string | null } | null;
  pending: number;
  processing: number;
  failed: number;
  /** Pending repairs of dual-writes that could not reach the index. */
  drift: number;
  /** Age of the oldest event not yet applied (pending or processing), of any kind; 0 when caught up. */
  oldestPendingSeconds: number;
  /**
   * The lag of live changes (captured by the triggers or `vectorsync.enqueue`) applied from the
   * outbox within the window: the same as `work.live.lag`. Backfills and repairs are not in it.
   * A CDC collection's live changes come through the slot: their lag is `cdc.lagSeconds`.
   */
  lag: LagStats;
  /** The queue and lag per kind of work: live changes, backfill, repair. */
  work: Record<WorkKind, WorkStatus>;
  lastError: { code: string | null; message: string; eventId: string; status: string } | null;
  index: { id: number; location: string; store: string; embedderModel: string; dimensions: number } | null;
  /** The latest finished reconciliation: when, how long, what it found and repaired. */
  lastReconcile: ReconcileRunSummary | null;
  /** Embedding spend from the ledger (billed embedders), today and this month (UTC). */
  spend: CollectionSpend;
  /**
   * The collection's budgets with what their scope spent this period; an exhausted one holds its
   * scope's embedding back (its events wait with EMBEDDING_BUDGET_EXHAUSTED, nothing is dropped).
   */
  budgets: Array<BudgetStanding & { enforced: boolean; paused: boolean; reason: string | null }>;
}

export interface WorkerStatus {
  id: string;
  hostname: string;
  pid: number;
  collections: string[];
  heartbeatAgeSeconds: number;
  alive: boolean;
}

export interface CdcStatus {
  slot: string;
  publication: string;
  collections: string[];
  exists: boolean;
  active: boolean;
  /** WAL written since the consumer's last confirmed position. */
  lagBytes: number;
  /** WAL the slot keeps from being recycled (the WAL-bloat hazard). */
  retainedBytes: number;
  /**
   * How far behind the consumer is in time: 0 when it has confirmed everything, otherwise the
   * time since the last transaction it applied was committed (an upper bound).
   */
  lagSeconds: number;
  confirmedLsn: string | null;
  lastAppliedAt: string | null;
  /**
   * Committed transactions the stream delivered that no snapshot sees yet (their writers wait,
   * e.g. for a synchronous standby): the consumer waits for them rather than read old rows.
   */
  waitingForVisibility: { transactions: number; seconds: number } | null;
  warning: string | null;
}

export interface SyncStatus {
  collections: CollectionSyncStatus[];
  workers: WorkerStatus[];
  cdc: CdcStatus | null;
}

/** Queue depth, age and lag per collection, from the outbox; each query uses a partial index. */
export async function readSyncStatus(runtime: VectorsyncRuntime): Promise<SyncStatus> {
  const db = runtime.db;
  const { lagWindowSeconds, workerTimeoutMs } = runtime.config.sync;
  const names = [...runtime.collections.keys()];
  const counts = await countByStatus(db);
  const openByWork = await countOpenByWork(db);
  const lags = await outboxLagSamples(db, lagWindowSeconds);
  const errors = await latestOutboxErrors(db);
  const workers = await listWorkers(db);

  const captures = db.kind === 'postgres' ? await readCaptureStates(db) : new Map();
  const reconciles = await latestReconcileRuns(db);
  const now = new Date();
  const spend = await readSpend(db, now);
  const standings = await budgetStandings(db, await listBudgets(db), now, (budget, since) =>
    runtime.ledger.unwrittenSpend(budget.collection, budget.tenant === '' ? undefined : budget.tenant, since),
  );

  const collections = names.map((name): CollectionSyncStatus => {
    const capture = captures.get(name);
    const collection = runtime.collection(name);
    const count = counts.get(name);
    const lagOf = (work: WorkKind): LagStats => {
      const lag = lags.find((row) => row.collection === name && row.work === work);
      return {
        windowSeconds: lagWindowSeconds,
        samples: lag?.samples ?? 0,
        p50Ms: lag?.p50 === null || lag?.p50 === undefined ? null : round(lag.p50),
        p95Ms: lag?.p95 === null || lag?.p95 === undefined ? null : round(lag.p95),
        maxMs: lag?.max === null || lag?.max === undefined ? null : round(Number(lag.max)),
      };
    };
    const work = Object.fromEntries(
      WORK_KINDS.map((kind): [WorkKind, WorkStatus] => {
        const open = openByWork.get(`${name}\u0000${kind}`);
        return [
          kind,
          {
            pending: open?.pending ?? 0,
            processing: open?.processing ?? 0,
            oldestPendingSeconds: open?.oldest ?? 0,
            lag: lagOf(kind),
          },
        ];
      }),
    ) as Record<WorkKind, WorkStatus>;
    const error = errors.find((row) => row.collection === name);
    const active = collection.targets.find((target) => target.record.state === 'active')?.record;
    return {
      collection: name,
      mode: collection.definition.config.sync.mode,
      switching: capture?.switchFrom
        ? {
            from: capture.switchFrom,
            since: capture.switchStartedAt ? new Date(capture.switchStartedAt).toISOString() : null,
          }
        : null,
      pending: count?.pending ?? 0,
      processing: count?.processing ?? 0,
      failed: count?.failed ?? 0,
      drift: count?.drift ?? 0,
      oldestPendingSeconds: count?.oldest ?? 0,
      lag: work.live.lag,
      work,
      lastError: error
        ? { code: error.code, message: error.message, eventId: error.id, status: error.status }
        : null,
      index: active
        ? {
            id: active.id,
            location: active.location,
            store: active.store,
            embedderModel: active.embedderModel,
            dimensions: active.dimensions,
          }
        : null,
      lastReconcile: reconciles.get(name) ?? null,
      spend: spend.get(name) ?? { today: emptySpend(), month: emptySpend() },
      budgets: standings
        .filter((standing) => standing.collection === name)
        .map((standing) => {
          const reason = !isBilled(collection.embedder)
            ? null
            : priceOf(runtime.config.costs, collection.embedder.modelId) === undefined
              ? `cannot be measured: ${collection.embedder.modelId} has no price in costs.prices, so embedding is paused until one is configured or the budget is cleared`
              : standing.exhausted
                ? `spent ${standing.spentUsd.toFixed(6)} of ${standing.limitUsd} USD this ${standing.period}: embedding of ${standing.tenant === '' ? 'the collection' : `tenant "${standing.tenant}"`} is paused until the budget is raised or the period ends`
                : null;
          // A budget over an embedder nobody bills (a local model, a self-hosted server) caps nothing.
          return { ...standing, enforced: isBilled(collection.embedder), paused: reason !== null, reason };
        }),
    };
  });
  return {
    collections,
    cdc: await readCdcStatus(runtime),
    workers: workers.map((row) => ({
      id: row.id,
      hostname: row.hostname,
      pid: row.pid,
      collections: row.collections,
      heartbeatAgeSeconds: round(row.age),
      alive: row.age * 1000 < workerTimeoutMs,
    })),
  };
}

async function countByStatus(db: SqlExecutor) {
  const counts = new Map<
    string,
    { pending: number; processing: number; failed: number; drift: number; oldest: number }
  >();
  for (const row of await outboxCountsByStatus(db)) {
    const entry = counts.get(row.collection) ?? { pending: 0, processing: 0, failed: 0, drift: 0, oldest: 0 };
    entry[row.status] = row.count;
    if (row.oldest !== null) entry.oldest = Math.max(entry.oldest, round(Number(row.oldest)));
    counts.set(row.collection, entry);
  }
  return counts;
}

/** Pending and processing events per collection and kind of work, with the oldest one's age. */
async function countOpenByWork(db: SqlExecutor) {
  return new Map(
    (await outboxOpenByWork(db)).map((row) => [
      `${row.collection}\u0000${row.work}`,
      {
        pending: row.pending,
        processing: row.processing,
        oldest: row.oldest === null ? 0 : Math.max(0, round(Number(row.oldest))),
      },
    ]),
  );
}

function round(value: number): number {
  return Math.round(Number(value) * 1000) / 1000;
}

async function readCdcStatus(runtime: VectorsyncRuntime): Promise<CdcStatus | null> {
  if (runtime.db.kind !== 'postgres') return null;
  const collections = await streamedCollections(runtime);
  if (collections.length === 0) return null;
  const { slot, publication, maxLagBytes, maxLagSeconds } = runtime.config.cdc;
  const info = await slotInfo(runtime.db, slot);
  const progress = await runtime.db.query<{
    last_applied_at: Date | null;
    pending_seconds: number | null;
    idle_seconds: number | null;
    reported_seconds_ago: number;
    invisible: number | null;
    invisible_seconds: number | null;
  }>(
    `SELECT last_applied_at, cardinality(invisible_xids) AS invisible,
            extract(epoch FROM clock_timestamp() - invisible_since)::float8 AS invisible_seconds,
            extract(epoch FROM clock_timestamp() - pending_since)::float8 AS pending_seconds,
            extract(epoch FROM clock_timestamp() - coalesce(last_applied_at, updated_at))::float8 AS idle_seconds,
            extract(epoch FROM clock_timestamp() - updated_at)::float8 AS reported_seconds_ago
       FROM vectorsync.cdc_progress WHERE slot = $1`,
    [slot],
  );
  const row = progress.rows[0];
  const lagBytes = info?.lagBytes ?? 0;
  // A running consumer reports the commit time of the oldest change it holds unapplied. One
  // that stopped reporting cannot say what the pending WAL contains: then the time since it
  // last applied anything is the honest upper bound.
  const consumerReporting = row !== undefined && row.reported_seconds_ago < 10 && (info?.active ?? false);
  const lagSeconds = consumerReporting
    ? Math.max(0, row.pending_seconds ?? 0)
    : lagBytes > 0
      ? Math.max(0, row?.idle_seconds ?? 0)
      : 0;
  const warnings: string[] = [];
  if (!info) warnings.push(`replication slot "${slot}" does not exist: run \`vectorsync setup\``);
  else {
    if (info.retainedBytes > maxLagBytes)
      warnings.push(
        `slot retains ${info.retainedBytes} bytes of WAL (over cdc.maxLagBytes ${maxLagBytes}): is the consumer running?`,
      );
    if (lagSeconds > maxLagSeconds)
      warnings.push(
        `consumer is ${Math.round(lagSeconds)} s behind (over cdc.maxLagSeconds ${maxLagSeconds})`,
      );
  }
  const waiting =
    row?.invisible && consumerReporting
      ? {
          transactions: row.invisible,
          seconds: Math.round(Math.max(0, row.invisible_seconds ?? 0) * 1000) / 1000,
        }
      : null;
  if (waiting && waiting.seconds > 5)
    warnings.push(
      `${waiting.transactions} committed transaction(s) not visible to other sessions for ${Math.round(waiting.seconds)} s (a writer waiting for a synchronous standby?); the consumer waits for them`,
    );
  return {
    slot,
    publication,
    collections,
    exists: info !== undefined,
    active: info?.active ?? false,
    lagBytes,
    retainedBytes: info?.retainedBytes ?? 0,
    lagSeconds: Math.round(lagSeconds * 1000) / 1000,
    confirmedLsn:
      info?.confirmedFlushLsn !== undefined && info?.confirmedFlushLsn !== null
        ? formatLsn(info.confirmedFlushLsn)
        : null,
    lastAppliedAt: row?.last_applied_at ? new Date(row.last_applied_at).toISOString() : null,
    waitingForVisibility: waiting,
    warning: warnings.length > 0 ? warnings.join('; ') : null,
  };
}
