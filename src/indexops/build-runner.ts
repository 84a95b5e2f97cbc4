import { quoteIdent } from '../db/sql-identifier.js';
import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { coerceError, ErrorCode, VectorsyncError } from '../errors.js';
import type { AnnIndexTable, IndexOpsSupport } from '../stores/index-ops-support.js';
import { type AbortCriteria, checkAbortCriteria } from './abort-criteria.js';
import { listAnnIndexes } from './ann-index-catalog.js';
import { type AnnParams, annIndexDdl } from './ann-params.js';
import type { BuildProgress, ProgressSample } from './build-progress.js';
import type { OperationRun } from './operation-run.js';
import { ProgressTracker } from './progress-tracker.js';

export interface BuildSettings {
  maintenanceWorkMem: string;
  parallelWorkers: number;
}

export interface BuildRequest {
  support: IndexOpsSupport;
  table: AnnIndexTable;
  indexName: string;
  params: AnnParams;
  tenant: string | null;
  concurrent: boolean;
  settings: BuildSettings;
  /** Rows the index will hold (progress totals, rate). */
  rowsTotal: number;
  criteria: AbortCriteria;
  run: OperationRun;
  /** Names this build in progress events and logs ("build", "rehearsal 5000 rows", …). */
  label: string;
  pollIntervalMs: number;
}

/** What the session really ran with: the operator asked for settings, Postgres decides. */
export interface SettingsUsed {
  maintenanceWorkMem: string;
  maxParallelMaintenanceWorkers: number;
  workersLaunched: number;
}

export interface BuildOutcome {
  ok: boolean;
  durationMs: number;
  settingsUsed: SettingsUsed;
  notices: string[];
  progress: BuildProgress;
  /** Set when the build was cancelled on purpose (operator abort, breached criterion). */
  abortReason?: string;
  error?: VectorsyncError;
  /** A failed concurrent build leaves an invalid index; it was dropped (CONCURRENTLY). */
  droppedInvalidIndex: boolean;
}

const memoryNotice = /no longer fits into maintenance_work_mem/;

/**
 * Runs one CREATE INDEX on a dedicated session with the configured maintenance_work_mem and
 * parallel workers, watches pg_stat_progress_create_index from another connection, enforces
 * the abort criteria, and on cancellation or failure drops the invalid leftover of a
 * concurrent build. Never throws for a failed or aborted build: the outcome says what happened.
 */
export async function runIndexBuild(request: BuildRequest): Promise<BuildOutcome> {
  const { support, run, criteria } = request;
  const session = await support.openSession('index-build');
  const notices: string[] = [];
  session.onNotice((message) => {
    notices.push(message);
    if (memoryNotice.test(message)) {
      run.warn(
        'graph_exceeds_memory',
        `${request.label}: ${message}; the build continues on disk and will be much slower than predicted (raise indexOps.maintenanceWorkMem)`,
      );
    }
  });
  const started = Date.now();
  const tracker = new ProgressTracker({
    method: request.params.method,
    concurrent: request.concurrent,
    rowsTotal: request.rowsTotal,
    expectedSeconds: criteria.expectedSeconds,
    slowFactor: criteria.slowFactor,
  });
  let settingsUsed: SettingsUsed = {
    maintenanceWorkMem: request.settings.maintenanceWorkMem,
    maxParallelMaintenanceWorkers: request.settings.parallelWorkers,
    workersLaunched: 0,
  };
  let stopCancelling = () => {};
  try {
    // statement_timeout backs the deadline up inside the server, should this process hang;
    // client_connection_check_interval ends the backend soon after this process dies, which
    // leaves the invalid index the next command cleans up.
    const backstop =
      criteria.deadlineAt === null ? 0 : Math.max(1, criteria.deadlineAt - Date.now() + 10_000);
    await session.query(
      `SELECT set_config('maintenance_work_mem', $1, false), set_config('max_parallel_maintenance_workers', $2, false),
              set_config('client_connection_check_interval', '1000', false), set_config('statement_timeout', $3, false)`,
      [
        request.settings.maintenanceWorkMem,
        String(request.settings.parallelWorkers),
        String(Math.round(backstop)),
      ],
    );
    const used = await session.query<{ mwm: string; workers: string }>(
      `SELECT current_setting('maintenance_work_mem') AS mwm, current_setting('max_parallel_maintenance_workers') AS workers`,
    );
    settingsUsed = {
      maintenanceWorkMem: used.rows[0]!.mwm,
      maxParallelMaintenanceWorkers: Number(used.rows[0]!.workers),
      workersLaunched: 0,
    };
    await run.setBackend(session);
    const cancel = () => {
      void support.db.query('SELECT pg_cancel_backend($1)', [session.pid]).catch(() => undefined);
    };
    if (run.abortReason !== undefined) {
      return await failedBuild(request, abortedBeforeStart(), { started, settingsUsed, notices, tracker });
    }
    stopCancelling = run.onAbort(cancel);

    let settled: { ok: true } | { ok: false; error: unknown } | undefined;
    const statement = session
      .query(
        annIndexDdl({
          table: request.table,
          indexName: request.indexName,
          params: request.params,
          opclass: support.opclass(request.table, request.params.method),
          tenant: request.tenant,
          concurrent: request.concurrent,
        }),
      )
      .then(
        () => ({ ok: true }) as const,
        (error: unknown) => ({ ok: false, error }) as const,
      )
      .then((result) => {
        settled = result;
      });
    run.progress(tracker.current, request.label);
    while (settled === undefined) {
      await sleepUnless(statement, request.pollIntervalMs);
      if (settled !== undefined) break;
      const sample = await readProgressSample(support, session.pid).catch(() => undefined);
      if (settled !== undefined) break;
      const progress = tracker.update(sample);
      settingsUsed.workersLaunched = Math.max(settingsUsed.workersLaunched, progress.workers);
      run.progress(progress, request.label);
      if (progress.slowerThanPredicted) {
        run.warn(
          'slower_than_predicted',
          `${request.label} is slower than the rehearsal predicted: ${Math.round(progress.elapsedSeconds)}s elapsed at ${(progress.fraction * 100).toFixed(1)}%, expected ${Math.round(criteria.expectedSeconds ?? 0)}s in total`,
          { elapsedSeconds: progress.elapsedSeconds, expectedSeconds: criteria.expectedSeconds },
        );
      }
      const breach = checkAbortCriteria(criteria, progress, Date.now());
      if (breach) run.requestAbort(`${breach.code}: ${breach.message}`);
      // A cancel that reached the session between statements is lost: repeat it until it lands.
      else if (run.abortReason !== undefined) cancel();
    }
    stopCancelling();
    const result = settled as { ok: true } | { ok: false; error: unknown };
    if (result.ok) {
      const progress = tracker.done();
      run.progress(progress, request.label);
      return {
        ok: true,
        durationMs: Date.now() - started,
        settingsUsed,
        notices,
        progress,
        droppedInvalidIndex: false,
      };
    }
    return await failedBuild(request, result.error, { started, settingsUsed, notices, tracker });
  } finally {
    stopCancelling();
    await run.setBackend(null).catch(() => undefined);
    await session.close();
  }
}

async function failedBuild(
  request: BuildRequest,
  error: unknown,
  context: { started: number; settingsUsed: SettingsUsed; notices: string[]; tracker: ProgressTracker },
): Promise<BuildOutcome> {
  const { run } = request;
  const cancelled = sqlStateOf(error) === SqlState.QueryCanceled;
  if (cancelled && run.abortReason === undefined) {
    await run.refreshAbort().catch(() => undefined);
    if (run.abortReason === undefined && /statement timeout/.test(coerceError(error).message))
      run.requestAbort('deadline: passed while the server was building (statement_timeout backstop)');
  }
  const abortReason = cancelled ? run.abortReason : undefined;
  const droppedInvalidIndex = request.concurrent ? await dropInvalidLeftover(request) : false;
  const message = coerceError(error).message;
  return {
    ok: false,
    durationMs: Date.now() - context.started,
    settingsUsed: context.settingsUsed,
    notices: context.notices,
    progress: context.tracker.current,
    ...(abortReason !== undefined ? { abortReason } : {}),
    error:
      abortReason !== undefined
        ? new VectorsyncError(ErrorCode.IndexBuildAborted, `${request.label} aborted (${abortReason})`, {
            details: { reason: abortReason },
          })
        : new VectorsyncError(ErrorCode.IndexBuildFailed, `${request.label} failed: ${message}`, {
            cause: error,
            details: { sqlstate: sqlStateOf(error) ?? null },
          }),
    droppedInvalidIndex,
  };
}

function abortedBeforeStart(): Error {
  return Object.assign(new Error('aborted before the build started'), { code: SqlState.QueryCanceled });
}

/** An interrupted CREATE INDEX CONCURRENTLY leaves its index behind, invalid; drop it without blocking. */
async function dropInvalidLeftover(request: BuildRequest): Promise<boolean> {
  const { support, table, indexName } = request;
  const leftover = (await listAnnIndexes(support.db, table)).find((index) => index.name === indexName);
  if (!leftover || leftover.valid) return false;
  await support.db.query(
    `DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(table.schema)}.${quoteIdent(indexName)}`,
  );
  request.run.logger.info({ index: indexName }, 'dropped the invalid index left by the interrupted build');
  return true;
}

export async function readProgressSample(
  support: IndexOpsSupport,
  pid: number,
): Promise<ProgressSample | undefined> {
  const result = await support.db.query<{
    phase: string;
    blocks_total: string;
    blocks_done: string;
    tuples_total: string;
    tuples_done: string;
    lockers_total: string;
    lockers_done: string;
    workers: number;
  }>(
    `SELECT p.phase, p.blocks_total::text, p.blocks_done::text, p.tuples_total::text, p.tuples_done::text,
            p.lockers_total::text, p.lockers_done::text,
            (SELECT count(*) FROM pg_stat_activity a WHERE a.leader_pid = p.pid)::int AS workers
       FROM pg_stat_progress_create_index p WHERE p.pid = $1`,
    [pid],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    phase: row.phase,
    blocksTotal: Number(row.blocks_total),
    blocksDone: Number(row.blocks_done),
    tuplesTotal: Number(row.tuples_total),
    tuplesDone: Number(row.tuples_done),
    lockersTotal: Number(row.lockers_total),
    lockersDone: Number(row.lockers_done),
    workers: row.workers,
  };
}

function sleepUnless(settled: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void settled.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
