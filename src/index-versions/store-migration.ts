import { ErrorCode, isVectorsyncError, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sourceRowCount } from '../pipeline/source-pages.js';
import { type IndexTarget, indexSpecFor, type VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { indexParamsFor } from '../stores/index-params.js';
import { databaseNow, waitForIndexWriters, writerStaleAfterMs } from '../sync/index-watcher.js';
import { type CompletenessReport, checkCompleteness } from './completeness-check.js';
import { type FillResult, fillIndexFromSource, sleep, throwIfAborted } from './fill-index.js';
import { assertEmbedderMatches, createIndexRecord, type IndexRecord, liveIndexes } from './index-catalog.js';
import { retireAndDrop } from './migration-lifecycle.js';
import { type ModeAgreement, sampleQueries, shadowReads } from './shadow-reads.js';
import { swapActiveKeepingStandby } from './standby-swap.js';

export type MigrationStage = 'prepare' | 'handshake' | 'fill' | 'settle' | 'verify' | 'shadow' | 'cutover';

export interface StoreMigrationOptions {
  collection: string;
  /** The store (a key of `stores`) to move the collection's index to. */
  to: string;
  /** Source rows per fill page. */
  pageSize?: number;
  /** Shadow-read queries generated from the corpus. */
  queries?: number;
  /** Cut over only if semantic search agrees at least this much (mean overlap@10). */
  minOverlap?: number;
  /** Share of the id-bucket space compared id by id (1: all of it). */
  verifyFraction?: number;
  /** Switch searches to the new index once verified (default true). */
  cutover?: boolean;
  /** Keep a half-built index when aborted or failed (default: retire and drop it). */
  keepOnAbort?: boolean;
  /** How long to wait for every sync writer to pick up the new index. */
  writerTimeoutMs?: number;
  /** How long to wait for sync to catch up before comparing. */
  settleTimeoutMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
  onStage?: (stage: MigrationStage, detail: string) => void;
  onProgress?: (stage: MigrationStage, done: number, total: number) => void;
}

export interface StoreMigrationReport {
  collection: string;
  from: { indexId: number; location: string; store: string };
  to: { indexId: number; location: string; store: string; resumed: boolean };
  fill: FillResult;
  completeness: CompletenessReport;
  shadow: ModeAgreement[];
  verified: boolean;
  /** Why verification did not pass (empty when it did). */
  problems: string[];
  cutover: boolean;
  /** What the operator does next. */
  next: string;
}

/**
 * Moves a collection's index to another store without a search outage, verified before the
 * switch (docs/operations/store-migration.md):
 *
 * 1. prepare: registers the new index as `building` in the target store and creates it there;
 * 2. handshake: waits until every sync writer writes to it too (`waitForIndexWriters`), so no
 *    change can slip between the fill and the live sync;
 * 3. fill: builds it from Postgres (not from the old store), page by page, version-guarded,
 *    while the old index keeps serving and both stay in sync;
 * 4. settle + verify: counts per tenant and an id-by-id comparison against the source;
 * 5. shadow: real searches on both, overlap@10 and rank correlation per mode;
 * 6. cutover: one registry transaction makes the new index active and the old one a standby
 *    that sync keeps current, so rollback is the same swap back.
 *
 * The config change (`collections.<c>.store`) is the documented last step; `setup` refuses a
 * config that disagrees with the active index. Aborting (signal) stops between pages and, before
 * the cut-over, retires and drops the new index.
 */
export async function migrateStore(
  runtime: VectorsyncRuntime,
  options: StoreMigrationOptions,
): Promise<StoreMigrationReport> {
  const logger = (options.logger ?? runtime.logger).child({ collection: options.collection, to: options.to });
  const stage = (name: MigrationStage, detail: string) => {
    logger.info({ stage: name }, detail);
    options.onStage?.(name, detail);
  };
  const collection = runtime.collection(options.collection);
  const storeConfig = runtime.config.stores[options.to];
  if (!storeConfig) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `store "${options.to}" is not declared in the config (stores.${options.to}); declare it before migrating to it`,
      { details: { store: options.to, known: Object.keys(runtime.config.stores) } },
    );
  }
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
  // model would measure the models, not the stores.
  assertEmbedderMatches(active.record, collection.embedder);

  stage('prepare', `creating the new index in store "${options.to}"`);
  const live = await liveIndexes(runtime.db, options.collection);
  const standby = live.find(
    (record) => record.state === 'building' && record.activatedAt !== null && record.store === options.to,
  );
  if (standby) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `store "${options.to}" already holds ${standby.location}, the in-sync standby of collection "${options.collection}": switch to it with \`vectorsync migrate-store --collection ${options.collection} --rollback\``,
      { details: { collection: options.collection, standby: standby.location } },
    );
  }
  // A build in the target store that was never active (an earlier run without cut-over, or one
  // that failed verification) is resumed: the fill is idempotent and version-guarded.
  const existing = live.find(
    (record) => record.state === 'building' && record.activatedAt === null && record.store === options.to,
  );
  const record: IndexRecord =
    existing ??
    (await createIndexRecord(runtime.db, {
      collection: options.collection,
      store: options.to,
      storeKind: storeConfig.provider,
      embedderModel: collection.embedder.modelId,
      dimensions: collection.embedder.dimensions,
      params: indexParamsFor(storeConfig, collection.definition.config),
      state: 'building',
    }));
  const store = runtime.store(options.to, options.collection);
  const spec = indexSpecFor(record, collection.definition);
  try {
    await store.ensureIndex(spec);

    stage('handshake', 'waiting for every sync writer to write the new index too');
    await waitForIndexWriters(runtime.db, {
      since: await databaseNow(runtime.db),
      staleAfterMs: writerStaleAfterMs(runtime.config.sync),
      timeoutMs: options.writerTimeoutMs ?? Math.max(60_000, runtime.config.sync.indexRefreshMs * 10),
      logger,
    });
    await runtime.refreshIndexes();
    const target: IndexTarget = { record, spec, store, storeName: options.to };

    const total = await sourceRowCount(runtime.db, collection.definition);
    stage('fill', `building the new index from ${total} source rows`);
    const fill = await fillIndexFromSource(runtime, {
      collection: options.collection,
      indexId: record.id,
      pageSize: options.pageSize ?? 500,
      logger,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (progress) => options.onProgress?.('fill', progress.done, Math.max(total, progress.done)),
    });

    const settle = () =>
      waitForSync(runtime, options.collection, options.settleTimeoutMs ?? 120_000, options.signal);
    stage('settle', 'waiting for sync to apply the changes made during the fill');
    await settle();

    stage('verify', 'comparing the new index with the source');
    const completeness = await checkCompleteness(runtime.db, collection.definition, target, {
      bucketFraction: options.verifyFraction ?? 1,
      settle,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (done, of) => options.onProgress?.('verify', done, of),
    });

    stage('shadow', 'running shadow reads on the old and the new index');
    const queries = await sampleQueries(runtime.db, collection.definition, options.queries ?? 50);
    const current = runtime.activeTarget(options.collection);
    const shadow = await shadowReads(runtime, {
      collection: options.collection,
      from: current,
      to: target,
      queries,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (done, of) => options.onProgress?.('shadow', done, of),
    });

    const problems = verificationProblems(fill, completeness, shadow, options.minOverlap ?? 0.8);
    const verified = problems.length === 0;
    throwIfAborted(options.signal);
    let cutover = false;
    if (verified && (options.cutover ?? true)) {
      stage(
        'cutover',
        `switching searches to ${record.location}; ${active.record.location} stays in sync as the standby`,
      );
      await swapActiveKeepingStandby(runtime.db, options.collection, record.id);
      await runtime.refreshIndexes();
      cutover = true;
    }
    return {
      collection: options.collection,
      from: { indexId: active.record.id, location: active.record.location, store: active.record.store },
      to: {
        indexId: record.id,
        location: record.location,
        store: options.to,
        resumed: existing !== undefined,
      },
      fill,
      completeness,
      shadow,
      verified,
      problems,
      cutover,
      next: cutover
        ? `set collections.${options.collection}.store to "${options.to}" in the config (setup refuses the old value now); roll back with \`vectorsync migrate-store --collection ${options.collection} --rollback\`; once satisfied, stop double writes with \`--drop-standby\``
        : verified
          ? `verified and in sync; cut over with \`vectorsync migrate-store --collection ${options.collection} --to ${options.to}\` (resumes this index)`
          : `not cut over; the new index ${record.location} stays in sync: investigate, then re-run (it resumes) or drop it with \`--abandon\``,
    };
  } catch (error) {
    if (!options.keepOnAbort) {
      logger.warn(
        { index: record.location, err: (error as Error).message },
        isVectorsyncError(error, ErrorCode.Aborted)
          ? 'migration aborted; dropping the new index'
          : 'migration failed; dropping the new index',
      );
      await retireAndDrop(runtime, record, logger).catch((dropError: Error) =>
        logger.warn({ index: record.location, err: dropError.message }, 'could not drop the new index'),
      );
    }
    throw error;
  }
}

function verificationProblems(
  fill: FillResult,
  completeness: CompletenessReport,
  shadow: ModeAgreement[],
  minOverlap: number,
): string[] {
  const problems: string[] = [];
  if (fill.failed > 0)
    problems.push(
      `${fill.failed} source rows could not be written (first: ${fill.failures[0]?.code} ${fill.failures[0]?.message})`,
    );
  if (completeness.discrepancies.length > 0) {
    const kinds = new Map<string, number>();
    for (const discrepancy of completeness.discrepancies)
      kinds.set(discrepancy.kind, (kinds.get(discrepancy.kind) ?? 0) + 1);
    problems.push(
      `new index differs from the source: ${[...kinds].map(([kind, n]) => `${n} ${kind}`).join(', ')}`,
    );
  }
  for (const tenant of completeness.countsComparable ? completeness.tenants : []) {
    if (tenant.source !== tenant.index)
      problems.push(
        `tenant ${tenant.tenant}: ${tenant.source} source rows, ${tenant.index} in the new index`,
      );
  }
  const semantic = shadow.find((report) => report.mode === 'semantic');
  if (semantic?.overlap !== null && semantic?.overlap !== undefined && semantic.overlap < minOverlap)
    problems.push(`semantic overlap@10 ${semantic.overlap.toFixed(3)} is below --min-overlap ${minOverlap}`);
  return problems;
}

/**
 * Waits until every outbox event of the collection captured before now has been applied (or
 * failed), so a comparison sees what sync has done. Gives up after `timeoutMs`: the comparison
 * then reports what is still different.
 */
async function waitForSync(
  runtime: VectorsyncRuntime,
  collection: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const since = await databaseNow(runtime.db);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    throwIfAborted(signal);
    const open = await runtime.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync.outbox
        WHERE collection = $1 AND status IN ('pending', 'processing') AND created_at <= $2`,
      [collection, since],
    );
    if (open.rows[0]!.n === 0) return;
    await sleep(200, signal);
  }
  runtime.logger.warn({ collection, timeoutMs }, 'sync did not catch up in time; comparing anyway');
}
