import { ErrorCode, VectorsyncError } from '../errors.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import {
  type BuildIndexVersionOptions,
  buildIndexVersion,
  type IndexBuildReport,
} from './build-index-version.js';

export interface ReembedOptions extends Omit<BuildIndexVersionOptions, 'store' | 'command'> {}

export interface ReembedReport extends IndexBuildReport {
  /** What the operator does next. */
  next: string;
}

/**
 * Builds a new version of a collection's index with what the config says now (its embedder:
 * model, provider or dimensions; its analyzer; its index settings) beside the
 * version serving, in the same store, through the index-version lifecycle
 * (`buildIndexVersion`). Searches keep answering from the serving version, with full results,
 * until the verified cut-over; the old version stays in sync as the standby for rollback.
 */
export async function reembed(runtime: VectorsyncRuntime, options: ReembedOptions): Promise<ReembedReport> {
  const collection = runtime.collection(options.collection);
  await runtime.refreshIndexes();
  const active = runtime.activeTarget(options.collection);
  if (active.record.store !== collection.storeName) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `collection "${options.collection}" is served by store "${active.record.store}" but the config names "${collection.storeName}": moving stores is \`vectorsync migrate-store --collection ${options.collection} --to ${collection.storeName}\`; re-embed after it (or set the store back)`,
      {
        details: {
          collection: options.collection,
          indexStore: active.record.store,
          configuredStore: collection.storeName,
        },
      },
    );
  }
  const report = await buildIndexVersion(runtime, {
    ...options,
    store: collection.storeName,
    command: 'reembed',
  });
  const c = options.collection;
  return {
    ...report,
    next: report.cutover
      ? `searches use ${report.to.location} now; switch back with \`vectorsync reembed --collection ${c} --rollback\` while ${report.from.location} is kept (it stays in sync); once satisfied, drop it with \`--retire\``
      : report.verified
        ? `verified and in sync; cut over with \`vectorsync reembed --collection ${c}\` (resumes this version)`
        : `not cut over; the new version ${report.to.location} stays in sync: investigate, then re-run (it resumes), cut over anyway with \`--force\`, or drop it with \`--abort\``,
  };
}
