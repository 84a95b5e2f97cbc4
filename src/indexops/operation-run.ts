import { EventEmitter } from 'node:events';
import type { SqlExecutor } from '../db/database.js';
import { coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DedicatedSession } from '../stores/index-ops-support.js';
import type { BuildProgress } from './build-progress.js';
import {
  finishOperation,
  getOperation,
  type IndexOperation,
  insertOperation,
  type NewOperation,
  type OperationState,
  type OperationWarning,
  updateOperation,
} from './operation-history.js';

export interface OperationRunEvents {
  /** `label` says which build: "build", "rehearsal 5000 rows", "verification copy". */
  progress: [progress: BuildProgress, label: string];
  warning: [warning: OperationWarning];
  step: [step: string];
}

export interface OperationRunOptions {
  pollIntervalMs: number;
  logIntervalMs: number;
}

/**
 * The owner's handle on one running operation: keeps its row alive (heartbeat), persists
 * progress and warnings for other processes (status endpoint, metrics), writes structured
 * progress logs, and turns abort requests (from `vectorsync index abort` or a breached
 * criterion) into callbacks that cancel whatever backend is working.
 */
export class OperationRun extends EventEmitter<OperationRunEvents> {
  abortReason: string | undefined;
  currentStep: string | null = null;
  private readonly abortListeners = new Set<(reason: string) => void>();
  private readonly warningList: OperationWarning[] = [];
  private latestProgress: BuildProgress | undefined;
  private progressDirty = false;
  private warningsDirty = false;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private lastLogAt = 0;
  private lastLoggedPhase = '';

  private constructor(
    private readonly db: SqlExecutor,
    readonly operation: IndexOperation,
    readonly logger: Logger,
    private readonly options: OperationRunOptions,
  ) {
    super();
  }

  static async start(
    db: SqlExecutor,
    input: NewOperation,
    logger: Logger,
    options: OperationRunOptions,
  ): Promise<OperationRun> {
    const operation = await insertOperation(db, input);
    const run = new OperationRun(
      db,
      operation,
      logger.child({ operation: operation.id, collection: operation.collection, kind: operation.kind }),
      options,
    );
    run.timer = setInterval(() => void run.beat(), options.pollIntervalMs);
    run.timer.unref();
    run.logger.info(
      {
        tenant: input.tenant,
        params: input.params,
        concurrent: input.concurrent,
        reason: input.reason,
        requestedBy: input.requestedBy,
        rows: input.rowsAtStart,
        settings: input.settings,
        criteria: input.criteria,
      },
      'index operation started',
    );
    return run;
  }

  get id(): number {
    return this.operation.id;
  }

  get warnings(): readonly OperationWarning[] {
    return this.warningList;
  }

  async step(step: string, patch: Parameters<typeof updateOperation>[2] = {}): Promise<void> {
    this.currentStep = step;
    this.logger.info({ step }, 'index operation step');
    this.emit('step', step);
    await this.persist({ ...patch, step });
  }

  async record(patch: Parameters<typeof updateOperation>[2]): Promise<void> {
    await this.persist(patch);
  }

  async setBackend(session: DedicatedSession | null): Promise<void> {
    await this.persist({ backend: session ? { pid: session.pid, start: session.backendStart } : null });
  }

  progress(progress: BuildProgress, label: string): void {
    this.latestProgress = progress;
    this.progressDirty = true;
    this.emit('progress', progress, label);
    const now = Date.now();
    if (
      progress.phase !== this.lastLoggedPhase ||
      now - this.lastLogAt >= this.options.logIntervalMs ||
      progress.phase === 'done'
    ) {
      this.lastLogAt = now;
      this.lastLoggedPhase = progress.phase;
      this.logger.info(
        {
          build: label,
          phase: progress.phase,
          percent: Math.round(progress.fraction * 1000) / 10,
          rowsDone: progress.rowsDone,
          rowsTotal: progress.rowsTotal,
          rowsPerMinute: progress.rowsPerMinute === null ? null : Math.round(progress.rowsPerMinute),
          etaSeconds: progress.etaSeconds === null ? null : Math.round(progress.etaSeconds),
          elapsedSeconds: Math.round(progress.elapsedSeconds * 10) / 10,
          expectedSeconds: progress.expectedSeconds,
          slowerThanPredicted: progress.slowerThanPredicted,
          workers: progress.workers,
        },
        'index build progress',
      );
    }
  }

  /** Recorded once per code; logged as a warning; visible in status and history. */
  warn(code: string, message: string, fields: Record<string, unknown> = {}): void {
    if (this.warningList.some((warning) => warning.code === code)) return;
    const warning = { code, message, at: new Date().toISOString() };
    this.warningList.push(warning);
    this.warningsDirty = true;
    this.logger.warn({ warning: code, ...fields }, message);
    this.emit('warning', warning);
  }

  /** Registers a canceller for the current step; returns its unregistration. */
  onAbort(listener: (reason: string) => void): () => void {
    if (this.abortReason !== undefined) listener(this.abortReason);
    this.abortListeners.add(listener);
    return () => this.abortListeners.delete(listener);
  }

  requestAbort(reason: string): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.logger.warn({ reason }, 'aborting index operation');
    for (const listener of this.abortListeners) listener(reason);
  }

  /** After a cancelled statement: was it an operator's abort we have not heard of yet? */
  async refreshAbort(): Promise<void> {
    const row = await getOperation(this.db, this.id);
    if (row.abortRequestedAt && this.abortReason === undefined)
      this.requestAbort(operatorReason(row.abortRequestedBy, row.abortReason));
  }

  /** Heartbeat: persists what changed and learns of abort requests from other processes. */
  beat(): Promise<void> {
    this.beating ??= this.persist({}).finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  async finish(
    state: Exclude<OperationState, 'running'>,
    outcome: { result?: Record<string, unknown>; errorCode?: string; error?: string; step?: string } = {},
  ): Promise<IndexOperation> {
    clearInterval(this.timer);
    await this.beating?.catch(() => undefined);
    // The last progress (often 'done') may have arrived after the last heartbeat.
    const progress = this.progressDirty ? this.latestProgress : undefined;
    this.progressDirty = false;
    await finishOperation(this.db, this.id, {
      state,
      ...(progress ? { progress } : {}),
      step: outcome.step ?? state,
      ...(outcome.result ? { result: outcome.result } : {}),
      warnings: this.warningList,
      abortReason: state === 'aborted' ? (this.abortReason ?? null) : null,
      errorCode: outcome.errorCode ?? null,
      error: outcome.error ?? null,
    });
    const finished = await getOperation(this.db, this.id);
    const log = state === 'succeeded' ? this.logger.info : this.logger.warn;
    log.call(
      this.logger,
      {
        state,
        durationMs: finished.durationMs,
        abortReason: finished.abortReason,
        error: finished.error,
        result: finished.result,
      },
      'index operation finished',
    );
    return finished;
  }

  private async persist(patch: Parameters<typeof updateOperation>[2]): Promise<void> {
    const full = { ...patch };
    if (this.progressDirty && this.latestProgress) full.progress = this.latestProgress;
    if (this.warningsDirty) full.warnings = this.warningList;
    this.progressDirty = false;
    this.warningsDirty = false;
    try {
      const { abort, state } = await updateOperation(this.db, this.id, full);
      if (abort && this.abortReason === undefined) this.requestAbort(operatorReason(abort.by, abort.reason));
      // Another process judged this owner dead and cleaned up (it was frozen, not dead): stop.
      if (state !== undefined && state !== 'running' && this.abortReason === undefined)
        this.requestAbort(
          `operation was recorded as ${state} by another process while this one was unresponsive`,
        );
    } catch (error) {
      // A missed heartbeat is retried on the next one; the operation itself goes on.
      this.progressDirty ||= full.progress !== undefined;
      this.warningsDirty ||= full.warnings !== undefined;
      this.logger.warn({ err: coerceError(error).message }, 'could not record index operation progress');
      if (patch.step !== undefined || patch.backend !== undefined) throw error;
    }
  }
}

function operatorReason(by: string | null, reason: string | null): string {
  return `aborted by ${by ?? 'an operator'}${reason ? `: ${reason}` : ''}`;
}
