import { randomUUID } from 'node:crypto';
import type { ReconcileConfig } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import { coerceError, ErrorCode, errorCodeOf, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sourceIdsWithOpenEvents } from '../outbox/outbox-reads.js';
import type { IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type Drift, diffGroups } from './differ.js';
import { GroupChecksums, recordChecksum } from './group-checksums.js';
import { tryReconcileLock } from './reconcile-lock.js';
import {
  DriftTally,
  emptyRepairSummary,
  type ReconcileMode,
  type ReconcileReport,
  type ReconcileTrigger,
  type RepairAction,
} from './reconcile-report.js';
import { saveReconcileRun } from './reconcile-runs.js';
import { Repairer } from './repairer.js';
import { scanSource } from './source-scanner.js';
import { readStoreChecksums } from './store-reader.js';

export type ReconcileSettings = Omit<ReconcileConfig, 'schedule'>;

export interface ReconcileProgress {
  phase: 'checksums' | 'diff' | 'repair';
  done: number;
  /** Null when unknown (the source's row estimate is missing). */
  total: number | null;
}

export interface ReconcileOptions {
  collection: string;
  /** Only this tenant's rows and records. */
  tenant?: string;
  /** report (default): find and count; dry-run: also list the repairs; fix: apply them. */
  mode?: ReconcileMode;
  trigger?: ReconcileTrigger;
  /** Which live index to compare (default: the active one). */
  indexId?: number;
  settings?: Partial<ReconcileSettings>;
  /** Stops the run between pages; the report is then marked aborted. */
  signal?: AbortSignal;
  logger?: Logger;
  onProgress?: (progress: ReconcileProgress) => void;
  /** Each repair as it is decided (dry-run and fix), awaited before the repair is made. */
  onAction?: (action: RepairAction) => void | Promise<void>;
  /** Record the report in vectorsync.reconcile_runs (default true). */
  persist?: boolean;
}

/**
 * Reconciles one collection's index with its source. Fast path first: per-group checksums of
 * (id, version, content hash) on both sides, the source streamed in primary-key order with
 * content hashes computed here (nothing is embedded) and the index side computed by the store;
 * only groups whose checksums differ are compared row by row. Differences with an unapplied
 * outbox event are in flight, not drift. One run per collection at a time (advisory lock); a
 * concurrent run fails with RECONCILE_IN_PROGRESS. Reads only: sync and search never wait.
 */
export async function reconcileCollection(
  runtime: VectorsyncRuntime,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const collection = runtime.collection(options.collection);
  const target = chooseTarget(runtime, options);
  const settings: ReconcileSettings = { ...runtime.config.reconcile, ...options.settings };
  const mode = options.mode ?? 'report';
  const logger = (options.logger ?? runtime.logger).child({ collection: collection.name, reconcile: mode });
  const configured = `${collection.embedder.modelId}/${collection.embedder.dimensions}`;
  const built = `${target.record.embedderModel}/${target.record.dimensions}`;
  // An index version is compared (and repaired) with the embedder that built it, which its
  // record names. Only a version recorded before that (schema 9) for a model the config no
  // longer names has none here: every record looks stale, and a repair would mix two models.
  if (mode === 'fix' && target.embedding instanceof Error) {
    throw new VectorsyncError(
      ErrorCode.EmbedderMismatch,
      `collection "${collection.name}": index ${target.record.location} was built with ${built} but the config names ${configured}; every record would be re-embedded into an index recorded for another model. Build a new version instead (vectorsync reembed --collection ${collection.name}) or restore the embedder config`,
      { details: { collection: collection.name, indexModel: built, configuredModel: configured } },
    );
  }
  const lock = await tryReconcileLock(runtime.db, collection.name);
  if (!lock) {
    throw new VectorsyncError(
      ErrorCode.ReconcileInProgress,
      `a reconciliation of collection "${collection.name}" is already in progress; wait for it or abort it`,
      { details: { collection: collection.name } },
    );
  }
  const started = new Date();
  const tally = new DriftTally(settings.sampleSize);
  const repair = mode === 'report' ? null : emptyRepairSummary();
  const report: ReconcileReport = {
    runId: randomUUID(),
    collection: collection.name,
    tenant: options.tenant ?? null,
    index: {
      id: target.record.id,
      location: target.record.location,
      store: target.storeName,
      embedderModel: target.record.embedderModel,
      dimensions: target.record.dimensions,
    },
    mode,
    trigger: options.trigger ?? 'library',
    status: 'completed',
    inSync: false,
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    durationMs: 0,
    sourceRows: 0,
    indexRecords: 0,
    counts: tally.counts,
    samples: tally.samples,
    byTenant: tally.byTenant,
    fastPath: {
      bucketBits: settings.bucketBits,
      groups: 0,
      differingGroups: 0,
      checksumsBy: 'store',
      rowsCompared: 0,
    },
    timings: { sourceMs: 0, indexChecksumsMs: 0, diffMs: 0, repairMs: 0 },
    repair,
    embedderMismatch: configured === built ? null : { index: built, configured },
    error: null,
  };
  logger.info({ tenant: report.tenant, index: report.index.location }, 'reconciliation started');
  try {
    await run(runtime, options, settings, target, report, tally, logger);
    if (options.signal?.aborted) report.status = 'aborted';
  } catch (error) {
    report.status = options.signal?.aborted ? 'aborted' : 'failed';
    if (report.status === 'failed') {
      const err = coerceError(error);
      report.error = { code: errorCodeOf(err), message: err.message };
      logger.error({ code: report.error.code, err: err.message }, 'reconciliation failed');
    }
  } finally {
    await lock.release();
  }
  const finished = new Date();
  report.finishedAt = finished.toISOString();
  report.durationMs = finished.getTime() - started.getTime();
  report.inSync = report.status === 'completed' && tally.total() === 0;
  if (options.persist ?? true) {
    await saveReconcileRun(runtime.db, report).catch((error: unknown) =>
      logger.warn({ err: coerceError(error).message }, 'could not record the reconciliation report'),
    );
  }
  logger.info(
    { status: report.status, durationMs: report.durationMs, counts: report.counts, repair: report.repair },
    'reconciliation finished',
  );
  return report;
}

function chooseTarget(runtime: VectorsyncRuntime, options: ReconcileOptions): IndexTarget {
  if (options.indexId === undefined) return runtime.activeTarget(options.collection);
  const target = runtime.collection(options.collection).targets.find((t) => t.record.id === options.indexId);
  if (!target) {
    throw new VectorsyncError(
      ErrorCode.IndexNotFound,
      `index ${options.indexId} is not a live index of collection "${options.collection}"`,
      { details: { collection: options.collection, indexId: options.indexId } },
    );
  }
  return target;
}

async function run(
  runtime: VectorsyncRuntime,
  options: ReconcileOptions,
  settings: ReconcileSettings,
  target: IndexTarget,
  report: ReconcileReport,
  tally: DriftTally,
  logger: Logger,
): Promise<void> {
  const collection = runtime.collection(options.collection);
  const { definition } = collection;
  const embedder = target.embedding instanceof Error ? collection.embedder : target.embedding.embedder;
  const bits = settings.bucketBits;
  const signal = options.signal;
  const scope = {
    pageSize: settings.pageSize,
    ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
    ...(signal ? { signal } : {}),
  };

  // Both sides at once: the store aggregates in its own process while this one hashes the source.
  const sourceStarted = performance.now();
  const indexSide = readStoreChecksums(target.store, target.spec, bits, scope).finally(() => {
    report.timings.indexChecksumsMs = Math.round(performance.now() - sourceStarted);
  });
  indexSide.catch(() => undefined);
  const sourceSide = new GroupChecksums(bits);
  const total = await estimateRows(runtime.db, definition.tableSql);
  for await (const page of scanSource(runtime.db, definition, embedder, scope)) {
    for (const entry of page) {
      report.sourceRows++;
      if (entry.error) {
        tally.record('unbuildable', {
          id: entry.id,
          tenant: null,
          code: entry.error.code,
          message: entry.error.message,
        });
      } else {
        const { id, version, contentHash } = entry.identity;
        sourceSide.add(entry.bucket, recordChecksum(id, version, contentHash));
      }
    }
    options.onProgress?.({ phase: 'checksums', done: report.sourceRows, total });
  }
  report.timings.sourceMs = Math.round(performance.now() - sourceStarted);
  const { checksums: indexChecksums, computedBy } = await indexSide;
  if (signal?.aborted) return;
  report.indexRecords = indexChecksums.total();
  report.fastPath.checksumsBy = computedBy;
  let groups = 0;
  for (let group = 0; group < sourceSide.groups; group++)
    if (sourceSide.counts[group]! > 0 || indexChecksums.counts[group]! > 0) groups++;
  report.fastPath.groups = groups;
  const differing = sourceSide.differingGroups(indexChecksums);
  report.fastPath.differingGroups = differing.length;
  logger.debug({ groups, differing: differing.length, computedBy }, 'checksums compared');

  const repairer =
    options.mode === 'fix' ? new Repairer(runtime, collection.name, target.record.id, logger) : undefined;
  const chunks = chunkGroups(differing, sourceSide.counts, indexChecksums.counts, settings.diffRowBudget);
  let done = 0;
  for (const chunk of chunks) {
    if (signal?.aborted) return;
    const diffStarted = performance.now();
    const { drift, compared } = await diffGroups(
      { db: runtime.db, definition, embedder, store: target.store, spec: target.spec, bits, ...scope },
      chunk,
    );
    if (signal?.aborted) return;
    report.fastPath.rowsCompared += compared;
    report.timings.diffMs += Math.round(performance.now() - diffStarted);
    const inFlight = await openOutboxEvents(runtime.db, collection.name, drift);
    const actions: RepairAction[] = [];
    for (const item of drift) {
      const contradiction = contradictionOf(item);
      // An event on its way cannot fix a contradiction: the guard would refuse it too.
      if (inFlight.has(item.id) && !contradiction) {
        report.counts.inFlight++;
        continue;
      }
      if (contradiction) report.counts[contradiction]++;
      tally.record(item.kind, sampleOf(item));
      actions.push(actionFor(item));
    }
    if (report.repair) {
      for (const action of actions) {
        report.repair.planned++;
        if (report.repair.actions.length < settings.sampleSize) report.repair.actions.push(action);
        await options.onAction?.(action);
      }
      if (repairer) {
        const repairStarted = performance.now();
        for (let start = 0; start < actions.length; start += settings.repairBatchSize) {
          if (signal?.aborted) return;
          await repairer.repair(
            actions.slice(start, start + settings.repairBatchSize),
            report.repair,
            settings.sampleSize,
          );
          options.onProgress?.({
            phase: 'repair',
            done: report.repair.repaired + report.repair.skipped + report.repair.failed,
            total: report.repair.planned,
          });
        }
        report.timings.repairMs += Math.round(performance.now() - repairStarted);
      }
    }
    done += chunk.length;
    options.onProgress?.({ phase: 'diff', done, total: differing.length });
  }
}

/** Groups in order, cut so that each chunk's rows (the larger side of each group) fit the budget. */
export function chunkGroups(
  groups: readonly number[],
  sourceCounts: Uint32Array,
  indexCounts: Uint32Array,
  budget: number,
): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  for (const group of groups) {
    const size = Math.max(sourceCounts[group]!, indexCounts[group]!);
    if (current.length > 0 && rows + size > budget) {
      chunks.push(current);
      current = [];
      rows = 0;
    }
    current.push(group);
    rows += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function actionFor(item: Drift): RepairAction {
  if (item.kind === 'missing')
    return {
      action: 'upsert',
      kind: 'missing',
      tenant: item.tenant,
      id: item.id,
      version: item.sourceVersion!,
    };
  if (item.kind === 'stale')
    return { action: 'upsert', kind: 'stale', tenant: item.tenant, id: item.id, version: item.indexVersion! };
  return {
    action: 'delete',
    kind: 'orphaned',
    tenant: item.tenant,
    id: item.id,
    version: item.indexVersion!,
  };
}

/** Drift that the version guard itself keeps in place: Postgres says otherwise. */
function contradictionOf(item: Drift): 'blockedByTombstone' | 'newerThanSource' | undefined {
  if (item.kind === 'missing' && item.reason === 'tombstone') return 'blockedByTombstone';
  if (
    item.kind === 'stale' &&
    item.reason === 'version' &&
    item.indexVersion !== undefined &&
    item.sourceVersion !== undefined &&
    item.indexVersion > item.sourceVersion
  )
    return 'newerThanSource';
  return undefined;
}

function sampleOf(item: Drift) {
  return {
    id: item.id,
    tenant: item.tenant,
    ...(item.reason ? { reason: item.reason } : {}),
    ...(item.indexVersion !== undefined ? { indexVersion: item.indexVersion } : {}),
    ...(item.sourceVersion !== undefined ? { sourceVersion: item.sourceVersion } : {}),
  };
}

/** Rows with an outbox event not yet applied: sync is already on its way to fix them. */
async function openOutboxEvents(
  db: SqlExecutor,
  collection: string,
  drift: readonly Drift[],
): Promise<Set<string>> {
  if (drift.length === 0) return new Set();
  return sourceIdsWithOpenEvents(
    db,
    collection,
    drift.map((item) => item.id),
  );
}

/** The planner's row estimate, for progress only (no count(*) pass over a large table). */
async function estimateRows(db: SqlExecutor, tableSql: string): Promise<number | null> {
  const result = await db.query<{ estimate: number }>(
    'SELECT reltuples::float8 AS estimate FROM pg_class WHERE oid = $1::regclass',
    [tableSql],
  );
  const estimate = result.rows[0]?.estimate ?? -1;
  return estimate >= 0 ? Math.round(estimate) : null;
}
