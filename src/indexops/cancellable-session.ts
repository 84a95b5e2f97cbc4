import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { DedicatedSession, IndexOpsSupport } from '../stores/index-ops-support.js';
import type { OperationRun } from './operation-run.js';

/**
 * Runs a long step (copying rows, sampling) on its own backend, recorded with the operation,
 * so `vectorsync index abort` from any process cancels it like it cancels a build.
 */
export async function inCancellableSession<T>(
  run: OperationRun,
  support: IndexOpsSupport,
  purpose: string,
  work: (session: DedicatedSession) => Promise<T>,
): Promise<T> {
  throwIfAborted(run);
  const session = await support.openSession(purpose);
  let stop = () => {};
  try {
    await run.setBackend(session);
    stop = run.onAbort(() => {
      void support.db.query('SELECT pg_cancel_backend($1)', [session.pid]).catch(() => undefined);
    });
    return await work(session);
  } catch (error) {
    if (sqlStateOf(error) === SqlState.QueryCanceled) await run.refreshAbort().catch(() => undefined);
    throwIfAborted(run);
    throw error;
  } finally {
    stop();
    await run.setBackend(null).catch(() => undefined);
    await session.close();
  }
}

export function throwIfAborted(run: OperationRun): void {
  if (run.abortReason !== undefined) {
    throw new VectorsyncError(
      ErrorCode.IndexBuildAborted,
      `operation #${run.id} aborted (${run.abortReason})`,
      {
        details: { operation: run.id, reason: run.abortReason },
      },
    );
  }
}
