import { coerceError, errorCodeOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier } from './applier.js';
import type { ChangeEvent } from './change-event.js';
import { recordFailedEvents } from './outbox-queries.js';

export interface DualWriteResult {
  /** applied: the index has the change. drift: it does not yet; an event will repair it. */
  index: 'applied' | 'drift';
  error?: string;
}

/**
 * Dual-write: after the source write has committed, the same request writes the index. That
 * write can never fail the request: a failure, or a store slower than `sync.dualWriteTimeoutMs`,
 * is logged with its ids and recorded as drift, an outbox event (origin 'dual-write') that the
 * workers apply once the store answers, version-guarded like everything else. Reconciliation
 * catches anything else (a dual-write collection does not capture direct SQL writes).
 */
export class DualWriter {
  private readonly applier: Applier;

  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly logger: Logger,
  ) {
    this.applier = new Applier(runtime, logger);
  }

  async afterWrite(change: Omit<ChangeEvent, 'eventId'>, requestId: string): Promise<DualWriteResult> {
    const event: ChangeEvent = { ...change, eventId: `dual-write:${requestId}` };
    const timeoutMs = this.runtime.config.sync.dualWriteTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const applying = this.applier.apply([event]).then(
      ({ outcomes }) => outcomes.get(event.eventId),
      (error: unknown) => ({
        status: 'failed' as const,
        error: coerceError(error),
        code: errorCodeOf(error),
        transient: true,
      }),
    );
    const outcome = await Promise.race([applying, timedOut]);
    clearTimeout(timer);
    if (outcome !== 'timeout' && outcome?.status !== 'failed') return { index: 'applied' };
    const error =
      outcome === 'timeout'
        ? `index write took longer than ${timeoutMs} ms (sync.dualWriteTimeoutMs); it may still complete`
        : outcome!.status === 'failed'
          ? outcome!.error.message
          : 'unknown';
    const code =
      outcome === 'timeout'
        ? 'DUAL_WRITE_TIMEOUT'
        : outcome!.status === 'failed'
          ? outcome!.code
          : 'INTERNAL';
    this.logger.warn(
      {
        requestId,
        collection: change.collection,
        tenant: change.tenant,
        id: change.sourceId,
        op: change.op,
        code,
        err: error,
      },
      'dual-write could not update the index; recorded as drift',
    );
    try {
      // A short delay: a timed-out write usually lands by itself; the repair then writes nothing.
      await recordFailedEvents(this.runtime.db, [{ event, error, code }], 'dual-write', {
        status: 'pending',
        delayMs: Math.min(timeoutMs, 5000),
      });
    } catch (recordError) {
      this.logger.error(
        { requestId, id: change.sourceId, err: coerceError(recordError).message },
        'could not record dual-write drift; reconciliation will find it',
      );
    }
    return { index: 'drift', error };
  }
}
