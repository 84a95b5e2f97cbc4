import { coerceError, errorCodeOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { completeWriteIntent, noteWriteIntentDrift, recordWriteIntent } from '../outbox/outbox-records.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier } from './applier.js';
import type { ChangeEvent } from './change-event.js';
import type { DocumentChange, WriteCapture } from './document-writer.js';

export interface DualWriteResult {
  /** applied: the index has the change. drift: it does not yet; its intent will repair it. */
  index: 'applied' | 'drift';
  error?: string;
}

/**
 * Dual-write: after the source write has committed, the same request writes the index. The
 * source write records an intent in its own transaction (an outbox event, origin 'dual-write',
 * due after a delay); the successful index write clears it. So whatever happens after the
 * commit (an index write that fails or exceeds `sync.dualWriteTimeoutMs`, a process killed
 * before it got there, the source going away while the failure would be recorded), the
 * workers repair it once the delay has passed, version-guarded like everything else.
 * Reconciliation catches the rest (a dual-write collection does not capture direct SQL writes).
 */
export class DualWriter {
  private readonly applier: Applier;

  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly logger: Logger,
  ) {
    this.applier = new Applier(runtime, logger);
  }

  /** Records the intent inside the source write's transaction (DocumentWriter calls it). */
  readonly capture: WriteCapture = (tx, change) => recordWriteIntent(tx, change, this.repairDelayMs());

  /** Long enough for the request's own write to land first; a crashed request is repaired after it. */
  private repairDelayMs(): number {
    return this.runtime.config.sync.dualWriteTimeoutMs + 1000;
  }

  async afterWrite(change: DocumentChange, intentId: string, requestId: string): Promise<DualWriteResult> {
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
    if (outcome !== 'timeout' && outcome?.status !== 'failed') {
      try {
        await completeWriteIntent(this.runtime.db, intentId);
      } catch (error) {
        // The intent stays pending: the workers re-apply it later, which writes nothing new.
        this.logger.warn(
          { requestId, id: change.sourceId, err: coerceError(error).message },
          'could not clear the dual-write intent; the workers will re-apply it',
        );
      }
      return { index: 'applied' };
    }
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
      'dual-write could not update the index; its intent is left for the workers (drift)',
    );
    try {
      // A short delay: a timed-out write usually lands by itself; the repair then writes nothing.
      await noteWriteIntentDrift(this.runtime.db, intentId, {
        error,
        code,
        delayMs: Math.min(timeoutMs, 5000),
      });
    } catch (recordError) {
      this.logger.warn(
        { requestId, id: change.sourceId, err: coerceError(recordError).message },
        'could not note the dual-write drift; its intent is repaired when it falls due',
      );
    }
    return { index: 'drift', error };
  }
}
