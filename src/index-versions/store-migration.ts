import { ErrorCode, VectorsyncError } from '../errors.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import {
  type BuildIndexVersionOptions,
  buildIndexVersion,
  type IndexBuildReport,
} from './build-index-version.js';
import { assertEmbedderMatches } from './index-catalog.js';

export type { BuildStage as MigrationStage } from './build-index-version.js';

export interface StoreMigrationOptions
  extends Omit<BuildIndexVersionOptions, 'store' | 'command' | 'evaluation'> {
  /** The store (a key of `stores`) to move the collection's index to. */
  to: string;
}

export interface StoreMigrationReport extends IndexBuildReport {
  /** What the operator does next. */
  next: string;
}

/**
 * Moves a collection's index to another store without a search outage, verified before the
 * switch (docs/operations/store-migration.md): the index-version lifecycle
 * (`buildIndexVersion`) with the new version in another store and the same embedder.
 *
 * The config change (`collections.<c>.store`) is the documented last step; `setup` refuses a
 * config that disagrees with the active index.
 */
export async function migrateStore(
  runtime: VectorsyncRuntime,
  options: StoreMigrationOptions,
): Promise<StoreMigrationReport> {
  const collection = runtime.collection(options.collection);
  await runtime.refreshIndexes();
  const active = runtime.activeTarget(options.collection);
  if (active.record.store === options.to) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `collection "${options.collection}" is already served by store "${options.to}" (index ${active.record.location})`,
      { details: { collection: options.collection, store: options.to } },
    );
  }
  // The new index is built with the configured embedder; comparing it with an index of another
  // model would measure the models, not the stores (a model change is `vectorsync reembed`).
  assertEmbedderMatches(active.record, collection.embedder);
  const { to, ...rest } = options;
  const report = await buildIndexVersion(runtime, { ...rest, store: to, command: 'migrate-store' });
  const c = options.collection;
  return {
    ...report,
    next: report.cutover
      ? `set collections.${c}.store to "${to}" in the config (setup refuses the old value now); roll back with \`vectorsync migrate-store --collection ${c} --rollback\`; once satisfied, stop double writes with \`--drop-standby\``
      : report.verified
        ? `verified and in sync; cut over with \`vectorsync migrate-store --collection ${c} --to ${to}\` (resumes this index)`
        : `not cut over; the new index ${report.to.location} stays in sync: investigate, then re-run (it resumes), cut over anyway with \`--force\`, or drop it with \`--abandon\``,
  };
}
