import { EventEmitter } from 'node:events';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type ReconcileOptions, reconcileCollection } from './reconcile-collection.js';
import type { ReconcileReport } from './reconcile-report.js';

export interface ReconcilerEvents {
  report: [ReconcileReport];
}

/**
 * The reconciliations one process runs (HTTP requests, the schedule): each can be aborted by
 * collection, and every finished report is emitted (metrics listen). Runs of the same
 * collection in other processes are excluded by the advisory lock in reconcileCollection.
 */
export class Reconciler extends EventEmitter<ReconcilerEvents> {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly runtime: VectorsyncRuntime) {
    super();
  }

  async run(options: ReconcileOptions): Promise<ReconcileReport> {
    const name = this.runtime.collection(options.collection).name;
    if (this.running.has(name)) {
      throw new VectorsyncError(
        ErrorCode.ReconcileInProgress,
        `a reconciliation of collection "${name}" is already in progress in this process; wait for it or abort it`,
        { details: { collection: name } },
      );
    }
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    this.running.set(name, controller);
    try {
      const report = await reconcileCollection(this.runtime, { ...options, signal });
      this.emit('report', report);
      return report;
    } finally {
      this.running.delete(name);
    }
  }

  /** Asks running reconciliations (of one collection, or all) to stop; returns their collections. */
  abort(collection?: string): string[] {
    const aborted: string[] = [];
    for (const [name, controller] of this.running) {
      if (collection !== undefined && name !== collection) continue;
      controller.abort(new VectorsyncError(ErrorCode.Aborted, `reconciliation of "${name}" aborted`));
      aborted.push(name);
    }
    return aborted;
  }

  runningCollections(): string[] {
    return [...this.running.keys()];
  }
}
