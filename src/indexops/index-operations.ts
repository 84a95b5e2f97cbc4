import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { rebuildIndex } from './blue-green-rebuild.js';
import { type AbortResult, abortOperation } from './index-abort.js';
import { buildIndex } from './index-build.js';
import { resolveIndexOpsTarget } from './index-ops-target.js';
import { type IndexStatus, readIndexStatus } from './index-status.js';
import { type CleanupReport, cleanUpInterruptedOperations } from './interrupted-operations.js';
import { type IndexOperation, listOperations } from './operation-history.js';
import type { IndexOperationRequest } from './operation-request.js';
import { type RehearsalRequest, rehearseIndex } from './rehearsal.js';

/**
 * Safe index operations on a collection's ANN indexes: the entry point for the CLI, the
 * service and library users. Every mutating command first cleans up after operations whose
 * owner died (their invalid indexes and scratch tables), then records itself before it starts.
 */
export class IndexOperations {
  private readonly logger: Logger;

  constructor(
    private readonly runtime: VectorsyncRuntime,
    logger?: Logger,
  ) {
    this.logger = (logger ?? runtime.logger).child({ component: 'indexops' });
  }

  /** Concurrent by default; `blocking` needs a `reason`. For a scope without an index. */
  async build(request: IndexOperationRequest): Promise<IndexOperation> {
    const target = resolveIndexOpsTarget(this.runtime, request.collection, this.logger);
    await this.cleanUp(request.collection);
    return buildIndex(target, request);
  }

  /** Blue/green: new index under a new name, verified, then the old one dropped concurrently. */
  async rebuild(request: IndexOperationRequest): Promise<IndexOperation> {
    const target = resolveIndexOpsTarget(this.runtime, request.collection, this.logger);
    await this.cleanUp(request.collection);
    return rebuildIndex(target, request);
  }

  async rehearse(request: RehearsalRequest): Promise<IndexOperation> {
    const target = resolveIndexOpsTarget(this.runtime, request.collection, this.logger);
    await this.cleanUp(request.collection);
    return rehearseIndex(target, request);
  }

  abort(input: {
    collection: string;
    reason?: string;
    requestedBy?: string;
    waitMs?: number;
  }): Promise<AbortResult> {
    resolveIndexOpsTarget(this.runtime, input.collection, this.logger);
    return abortOperation(this.runtime, this.logger, input);
  }

  /** Detects and cleans up interrupted operations and invalid leftovers (idempotent). */
  cleanUp(collection?: string): Promise<CleanupReport> {
    return cleanUpInterruptedOperations(this.runtime, this.logger, collection ? { collection } : {});
  }

  status(collection: string): Promise<IndexStatus> {
    return readIndexStatus(this.runtime, collection);
  }

  history(
    options: { collection?: string; limit?: number; beforeId?: number } = {},
  ): Promise<IndexOperation[]> {
    if (options.collection) this.runtime.collection(options.collection);
    return listOperations(this.runtime.db, {
      limit: options.limit ?? 20,
      ...(options.collection ? { collection: options.collection } : {}),
      ...(options.beforeId !== undefined ? { beforeId: options.beforeId } : {}),
    });
  }
}
