import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { swapSteps } from './blue-green-rebuild.js';
import { defaultActor } from './index-ops-target.js';
import { cleanUpInterruptedOperations } from './interrupted-operations.js';
import { getOperation, type IndexOperation, requestAbort } from './operation-history.js';

export interface AbortResult {
  /** The operation as it ended (or as it still runs, if the wait ran out). */
  operation: IndexOperation;
  /** False when the operation had passed its point of no return (a rebuild's swap). */
  honoured: boolean;
}

/**
 * Aborts the collection's running operation from any process: records the request (the
 * owner learns of it on its next heartbeat), cancels the backend working for it right away,
 * and waits for the owner to drop what the build left. If the owner is gone, cleans up itself.
 */
export async function abortOperation(
  runtime: VectorsyncRuntime,
  logger: Logger,
  input: { collection: string; reason?: string; requestedBy?: string; waitMs?: number },
): Promise<AbortResult> {
  runtime.collection(input.collection);
  const by = input.requestedBy ?? defaultActor();
  const operation = await requestAbort(runtime.db, input.collection, by, input.reason ?? 'operator request');
  if (!operation) {
    throw new VectorsyncError(
      ErrorCode.IndexOperationNotFound,
      `no index operation is running on collection "${input.collection}"`,
      { details: { collection: input.collection } },
    );
  }
  logger.warn(
    { operation: operation.id, collection: input.collection, by, reason: input.reason },
    'abort requested',
  );
  if (operation.step === null || !swapSteps.has(operation.step)) await cancelBackend(runtime, operation);
  const deadline = Date.now() + (input.waitMs ?? 120_000);
  for (;;) {
    const current = await getOperation(runtime.db, operation.id);
    if (current.state !== 'running') return { operation: current, honoured: current.state === 'aborted' };
    const silentMs = Date.now() - current.heartbeatAt.getTime();
    if (silentMs > runtime.config.indexOps.heartbeatTimeoutMs) {
      await cleanUpInterruptedOperations(runtime, logger, { collection: input.collection });
      continue;
    }
    if (Date.now() > deadline) return { operation: current, honoured: false };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** pg_cancel_backend of the recorded backend, if it is still the same one (pid reuse is checked). */
async function cancelBackend(runtime: VectorsyncRuntime, operation: IndexOperation): Promise<void> {
  if (operation.backendPid === null || operation.backendStart === null) return;
  const target = runtime
    .collection(operation.collection)
    .targets.find((t) => t.record.id === operation.indexId);
  const db = target?.store.indexOps?.db ?? runtime.db;
  await db.query(
    `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2 AND state <> 'idle'`,
    [operation.backendPid, operation.backendStart],
  );
}
