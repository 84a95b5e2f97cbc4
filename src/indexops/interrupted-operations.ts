import { quoteIdent } from '../db/sql-identifier.js';
import { coerceError, ErrorCode } from '../errors.js';
import { getIndex } from '../index-versions/index-catalog.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { indexSpecFor } from '../runtime/vectorsync-runtime.js';
import type { AnnIndexTable, IndexOpsSupport } from '../stores/index-ops-support.js';
import { listAnnIndexes } from './ann-index-catalog.js';
import { swapSteps } from './blue-green-rebuild.js';
import { ownerId } from './index-ops-target.js';
import {
  finishOperation,
  getOperation,
  type IndexOperation,
  runningOperations,
} from './operation-history.js';
import { dropScratchTables, listScratchTables } from './scratch-tables.js';

export interface RecoveryReport {
  operation: number;
  collection: string;
  kind: string;
  state: 'crashed' | 'aborted';
  droppedIndexes: string[];
  droppedTables: string[];
  note: string;
}

export interface CleanupReport {
  /** Operations whose owner died, finished and cleaned up now. */
  recovered: RecoveryReport[];
  /** Invalid ANN indexes and scratch tables no running operation owns (e.g. a crashed setup). */
  droppedIndexes: string[];
  droppedTables: string[];
}

/**
 * What the next index command does first. An operation is interrupted when its owner has not
 * heartbeated for indexOps.heartbeatTimeoutMs: a backend it left running is cancelled, the
 * operation is recorded as crashed (or aborted, if an abort was requested), and what it left
 * is removed: the invalid index of an interrupted CREATE INDEX CONCURRENTLY (dropped
 * CONCURRENTLY), an unverified candidate, scratch tables. A rebuild interrupted during its
 * swap is finished forward instead: the new index is valid and verified, the old one goes.
 * Then any invalid ANN index that nothing is building is dropped too.
 */
export async function cleanUpInterruptedOperations(
  runtime: VectorsyncRuntime,
  logger: Logger,
  options: { collection?: string } = {},
): Promise<CleanupReport> {
  const report: CleanupReport = { recovered: [], droppedIndexes: [], droppedTables: [] };
  const timeoutMs = runtime.config.indexOps.heartbeatTimeoutMs;
  const stale = await runtime.db.query<{ id: string }>(
    `SELECT id::text FROM vectorsync.index_operations
      WHERE state = 'running' AND ($1::text IS NULL OR collection = $1)
        AND heartbeat_at < clock_timestamp() - make_interval(secs => $2 / 1000.0)`,
    [options.collection ?? null, timeoutMs],
  );
  for (const row of stale.rows) {
    const recovered = await recoverOperation(runtime, logger, await getOperation(runtime.db, Number(row.id)));
    if (recovered) report.recovered.push(recovered);
  }
  await sweepLeftovers(runtime, logger, options.collection, report);
  return report;
}

async function recoverOperation(
  runtime: VectorsyncRuntime,
  logger: Logger,
  operation: IndexOperation,
): Promise<RecoveryReport | undefined> {
  const log = logger.child({ operation: operation.id, collection: operation.collection });
  const location = await locate(runtime, operation);
  if (location && operation.backendPid !== null && operation.backendStart !== null)
    await stopOrphanBackend(location.support, operation.backendPid, operation.backendStart);
  const state = operation.abortRequestedAt ? 'aborted' : 'crashed';
  const claimed = await finishOperation(runtime.db, operation.id, {
    state,
    heartbeatNotAfter: operation.heartbeatAt,
    errorCode: ErrorCode.IndexOperationInterrupted,
    error: `owner ${operation.owner} stopped heartbeating at ${operation.heartbeatAt.toISOString()} during step "${operation.step}"; cleaned up by ${ownerId()}`,
  });
  if (!claimed) return undefined;
  const report: RecoveryReport = {
    operation: operation.id,
    collection: operation.collection,
    kind: operation.kind,
    state,
    droppedIndexes: [],
    droppedTables: [],
    note: '',
  };
  if (!location) {
    report.note = 'its index table is no longer configured here; nothing dropped';
  } else {
    const { support, table } = location;
    const indexes = await listAnnIndexes(support.db, table);
    const candidate = indexes.find((index) => index.name === operation.indexName);
    const drop = async (name: string) => {
      await dropIndexConcurrently(support, table, name);
      report.droppedIndexes.push(name);
    };
    if (
      operation.kind === 'rebuild' &&
      operation.step !== null &&
      swapSteps.has(operation.step) &&
      candidate?.valid
    ) {
      for (const old of operation.replacedIndexes)
        if (indexes.some((index) => index.name === old)) await drop(old);
      report.note = `the swap had begun: finished it; ${candidate.name} (verified) serves`;
    } else if (operation.kind === 'build' && candidate?.valid) {
      report.note = `the build had completed: ${candidate.name} is valid and kept`;
    } else {
      if (candidate) await drop(candidate.name);
      report.note = candidate
        ? `dropped ${candidate.valid ? 'the unverified new index' : 'the invalid index of the interrupted build'} ${candidate.name}; the index serving searches is untouched`
        : 'nothing was left on the index table';
    }
    report.droppedTables = await dropScratchTables(support.db, operation.id);
  }
  await runtime.db.query(
    `UPDATE vectorsync.index_operations SET result = result || jsonb_build_object('recovery', $2::jsonb) WHERE id = $1`,
    [operation.id, { by: ownerId(), at: new Date().toISOString(), ...report }],
  );
  log.warn({ ...report }, 'cleaned up an interrupted index operation');
  return report;
}

/** The backend of a dead owner may still be building (until it notices the lost client): stop it. */
async function stopOrphanBackend(support: IndexOpsSupport, pid: number, start: Date): Promise<void> {
  const active = async () =>
    (
      await support.db.query(
        `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2 AND state <> 'idle'`,
        [pid, start],
      )
    ).rowCount > 0;
  if (!(await active())) return;
  await support.db.query('SELECT pg_cancel_backend($1)', [pid]);
  for (let attempt = 0; attempt < 100 && (await active()); attempt++)
    await new Promise((resolve) => setTimeout(resolve, 100));
}

async function locate(
  runtime: VectorsyncRuntime,
  operation: IndexOperation,
): Promise<{ support: IndexOpsSupport; table: AnnIndexTable } | undefined> {
  try {
    if (operation.indexId === null) return undefined;
    const record = await getIndex(runtime.db, operation.indexId);
    const collection = runtime.collection(operation.collection);
    const support = runtime.store(record.store).indexOps;
    if (!support) return undefined;
    return { support, table: support.table(indexSpecFor(record, collection.definition)) };
  } catch {
    return undefined;
  }
}

async function sweepLeftovers(
  runtime: VectorsyncRuntime,
  logger: Logger,
  collection: string | undefined,
  report: CleanupReport,
): Promise<void> {
  const running = await runningOperations(runtime.db);
  const owned = new Set(running.map((operation) => operation.indexName).filter(Boolean));
  const runningIds = new Set(running.map((operation) => operation.id));
  const names = collection ? [collection] : [...runtime.collections.keys()];
  const supports = new Set<IndexOpsSupport>();
  for (const name of names) {
    for (const target of runtime.collection(name).targets) {
      const support = target.store.indexOps;
      if (!support) continue;
      supports.add(support);
      const table = support.table(target.spec);
      for (const index of await listAnnIndexes(support.db, table)) {
        if (index.valid || index.building || owned.has(index.name)) continue;
        try {
          await dropIndexConcurrently(support, table, index.name);
          report.droppedIndexes.push(index.name);
          logger.warn(
            { collection: name, index: index.name },
            'dropped an invalid ANN index nothing was building',
          );
        } catch (error) {
          logger.warn(
            { index: index.name, err: coerceError(error).message },
            'could not drop an invalid index',
          );
        }
      }
    }
  }
  for (const support of supports) {
    for (const table of await listScratchTables(support.db)) {
      if (runningIds.has(table.operationId)) continue;
      await support.db.query(`DROP TABLE IF EXISTS vectorsync.${quoteIdent(table.name)}`);
      report.droppedTables.push(table.name);
    }
  }
}

async function dropIndexConcurrently(
  support: IndexOpsSupport,
  table: AnnIndexTable,
  name: string,
): Promise<void> {
  await support.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(table.schema)}.${quoteIdent(name)}`);
}
