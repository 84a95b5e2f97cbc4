import type { EventBus } from '../bus/event-bus.js';
import { canonicalJson } from '../config/canonical-json.js';
import { ErrorCode, isVectorsyncError, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { countOpenEvents } from '../outbox/outbox-reads.js';
import { sourceRowCount } from '../pipeline/source-pages.js';
import { indexSpecFor, type VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { indexParamsFor } from '../stores/index-params.js';
import { applyConsumerName } from '../sync/bus-consumer.js';
import { databaseNow, waitForIndexWriters, writerStaleAfterMs } from '../sync/index-watcher.js';
import { type CompletenessReport, checkCompleteness } from './completeness-check.js';
import { type FillResult, fillIndexFromSource, sleep, throwIfAborted } from './fill-index.js';
import { createIndexRecord, type IndexRecord, liveIndexes } from './index-catalog.js';
import { evaluateVersions, type JudgedQueries, type VersionEvaluation } from './judged-evaluation.js';
import { retireAndDrop } from './migration-lifecycle.js';
import { type ModeAgreement, sampleQueries, shadowReads } from './shadow-reads.js';
import { swapActiveKeepingStandby } from './standby-swap.js';

export type BuildStage =
  | 'prepare'
  | 'handshake'
  | 'fill'
  | 'settle'
  | 'verify'
  | 'shadow'
  | 'evaluate'
  | 'cutover';

export interface BuildIndexVersionOptions {
  collection: string;
  /** The store (a key of `stores`) to build the new version in. */
  store: string;
  /** The command this build serves, named in the next steps it prints. */
  command: string;
  /** Source rows per fill page. */
  pageSize?: number;
  /** Shadow-read queries generated from the corpus. */
  queries?: number;
  /**
   * Cut over only if semantic search agrees at least this much (mean overlap@10). Applies when
   * both versions embed with the same model: another model is expected to rank differently, and
   * is judged by `evaluation` instead.
   */
  minOverlap?: number;
  /** Judged queries: nDCG@10 of both versions is reported, and the new one may not be worse by more than `maxNdcgDrop`. */
  evaluation?: { judged: JudgedQueries; tenant: string; maxNdcgDrop?: number };
  /** Share of the id-bucket space compared id by id (1: all of it). */
  verifyFraction?: number;
  /** Switch searches to the new version once verified (default true). */
  cutover?: boolean;
  /** Cut over even though a check did not pass (the problems are still reported). */
  force?: boolean;
  /** Keep a half-built version when aborted or failed (default: retire and drop it). */
  keepOnAbort?: boolean;
  /** How long to wait for every sync writer to pick up the new version. */
  writerTimeoutMs?: number;
  /** How long to wait for sync to catch up before comparing. */
  settleTimeoutMs?: number;
  /**
   * Where the new version's data comes from; by default Postgres, page by page (`pageSize`).
   * `replay` fills it from the event stream instead.
   */
  fill?: VersionFill;
  /**
   * The event bus, for a collection that publishes to it: its consumers, not the outbox, apply
   * the live changes, so settling waits for them too.
   */
  bus?: EventBus;
  signal?: AbortSignal;
  logger?: Logger;
  onStage?: (stage: BuildStage, detail: string) => void;
  onProgress?: (stage: BuildStage, done: number, total: number) => void;
}

export interface VersionFill {
  /** What the fill reads, for the stage line: "the event stream (812 events)". */
  source: string;
  run(context: {
    indexId: number;
    logger: Logger;
    signal?: AbortSignal;
    onProgress: (done: number, total: number) => void;
  }): Promise<FillResult>;
}

export interface IndexVersionRef {
  indexId: number;
  location: string;
  store: string;
  embedderModel: string;
  dimensions: number;
}

export interface IndexBuildReport {
  collection: string;
  from: IndexVersionRef;
  to: IndexVersionRef & { resumed: boolean };
  /** The new version embeds with another model (or dimensions) than the one serving. */
  modelChanged: boolean;
  fill: FillResult;
  completeness: CompletenessReport;
  shadow: ModeAgreement[];
  evaluation: VersionEvaluation | null;
  verified: boolean;
  /** Why verification did not pass (empty when it did). */
  problems: string[];
  cutover: boolean;
  /** Cut over although verification did not pass (`force`). */
  forced: boolean;
}

/**
 * The one lifecycle of a new index version beside the one serving (docs/architecture.md):
 *
 * 1. prepare: registers the version as `building` (with the embedder config that builds it) and
 *    creates it in its store; a build of the same shape that was never active is resumed;
 * 2. handshake: waits until every sync writer writes to it too (`waitForIndexWriters`), so no
 *    change can slip between the fill and the live sync;
 * 3. fill: builds it from Postgres page by page, version-guarded, each version with its own
 *    embedder, while the serving version keeps answering with full results;
 * 4. settle + verify: counts per tenant and an id-by-id comparison against the source;
 * 5. shadow (+ evaluate): real searches on both versions, overlap@10 and rank correlation per
 *    mode, and nDCG@10 of each on judged queries when given;
 * 6. cutover: one catalog transaction makes the new version active and the old one a standby
 *    that sync keeps current, so rollback is the same swap back, for as long as it is kept.
 *
 * Aborting (signal) stops between pages and, before the cut-over, retires and drops the new
 * version. A process killed mid-build leaves it `building`: the next run resumes it, or
 * `abortBuild` drops it.
 */
export async function buildIndexVersion(
  runtime: VectorsyncRuntime,
  options: BuildIndexVersionOptions,
): Promise<IndexBuildReport> {
  const logger = (options.logger ?? runtime.logger).child({
    collection: options.collection,
    store: options.store,
  });
  const stage = (name: BuildStage, detail: string) => {
    logger.info({ stage: name }, detail);
    options.onStage?.(name, detail);
  };
  const collection = runtime.collection(options.collection);
  const storeConfig = runtime.config.stores[options.store];
  if (!storeConfig) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `store "${options.store}" is not declared in the config (stores.${options.store}); declare it first`,
      { details: { store: options.store, known: Object.keys(runtime.config.stores) } },
    );
  }
  await runtime.refreshIndexes();
  const active = runtime.activeTarget(options.collection);
  const live = await liveIndexes(runtime.db, options.collection);
  const standby = live.find((record) => record.state === 'building' && record.activatedAt !== null);
  if (standby) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `collection "${options.collection}" still keeps ${standby.location} (store "${standby.store}", ${standby.embedderModel}) as the standby of its last cut-over: switch back to it (\`vectorsync ${options.command} --collection ${options.collection} --rollback\`) or retire it (\`--retire\`) before building another version`,
      { details: { collection: options.collection, standby: standby.location } },
    );
  }
  const params = indexParamsFor(storeConfig, collection.definition.config);
  const embedder = collection.embedder;
  const sameShape = (record: IndexRecord) =>
    record.store === options.store &&
    record.embedderModel === embedder.modelId &&
    record.dimensions === embedder.dimensions &&
    canonicalJson(record.params) === canonicalJson(params);
  const unfinished = live.filter((record) => record.state === 'building' && record.activatedAt === null);
  const other = unfinished.find((record) => !sameShape(record));
  if (other) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `collection "${options.collection}" has an unfinished build, ${other.location} (store "${other.store}", ${other.embedderModel}/${other.dimensions}), that the config no longer describes: abort it first (\`vectorsync ${options.command} --collection ${options.collection} --abort\`)`,
      { details: { collection: options.collection, building: other.location } },
    );
  }
  // An unfinished build of the same shape (killed, not cut over, or not verified) is resumed:
  // the fill is idempotent and version-guarded.
  const existing = unfinished.find(sameShape);
  stage(
    'prepare',
    existing
      ? `resuming the unfinished build ${existing.location}`
      : `creating a new version in store "${options.store}" with ${embedder.modelId}/${embedder.dimensions}`,
  );
  const record: IndexRecord =
    existing ??
    (await createIndexRecord(runtime.db, {
      collection: options.collection,
      store: options.store,
      storeKind: storeConfig.provider,
      embedding: collection.embedding,
      params,
      state: 'building',
    }));
  const store = runtime.store(options.store, options.collection);
  const spec = indexSpecFor(record, collection.definition);
  const modelChanged =
    active.record.embedderModel !== record.embedderModel || active.record.dimensions !== record.dimensions;
  try {
    await store.ensureIndex(spec);

    stage('handshake', 'waiting for every sync writer to write the new version too');
    await waitForIndexWriters(runtime.db, {
      since: await databaseNow(runtime.db),
      staleAfterMs: writerStaleAfterMs(runtime.config.sync),
      timeoutMs: options.writerTimeoutMs ?? Math.max(60_000, runtime.config.sync.indexRefreshMs * 10),
      logger,
    });
    await runtime.refreshIndexes();
    const target = runtime.collection(options.collection).targets.find((t) => t.record.id === record.id);
    if (!target) {
      throw new VectorsyncError(
        ErrorCode.IndexNotFound,
        `index ${record.location} was retired while it was being built (an abort from another process?)`,
        { details: { collection: options.collection, index: record.location } },
      );
    }

    const filler = options.fill ?? (await fillFromSource(runtime, options));
    stage('fill', `building ${record.location} from ${filler.source}`);
    const fill = await filler.run({
      indexId: record.id,
      logger,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (done, total) => options.onProgress?.('fill', done, total),
    });

    const settle = () =>
      waitForSync(runtime, options.collection, {
        timeoutMs: options.settleTimeoutMs ?? 120_000,
        signal: options.signal,
        bus: collection.definition.config.sync.bus ? options.bus : undefined,
      });
    stage('settle', 'waiting for sync to apply the changes made during the fill');
    await settle();

    // Both versions are measured below (shadow reads, judged queries): each must be planned
    // as it will be served, not as a table the planner has no statistics of.
    for (const measured of [active, target]) await measured.store.refreshStatistics?.(measured.spec);

    stage('verify', 'comparing the new version with the source');
    const completeness = await checkCompleteness(runtime.db, collection.definition, target, {
      bucketFraction: options.verifyFraction ?? 1,
      settle,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (done, of) => options.onProgress?.('verify', done, of),
    });

    stage('shadow', 'running shadow reads on the serving and the new version');
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

    let evaluation: VersionEvaluation | null = null;
    if (options.evaluation) {
      stage(
        'evaluate',
        `nDCG@10 of both versions on ${options.evaluation.judged.queries.length} judged queries`,
      );
      evaluation = await evaluateVersions(runtime, {
        collection: options.collection,
        tenant: options.evaluation.tenant,
        from: current,
        to: target,
        judged: options.evaluation.judged,
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (done, of) => options.onProgress?.('evaluate', done, of),
      });
    }

    const problems = verificationProblems({
      fill,
      completeness,
      shadow,
      evaluation,
      minOverlap: modelChanged ? null : (options.minOverlap ?? 0.8),
      maxNdcgDrop: options.evaluation?.maxNdcgDrop ?? 0.02,
    });
    const verified = problems.length === 0;
    throwIfAborted(options.signal);
    const forced = !verified && (options.force ?? false);
    let cutover = false;
    if ((verified || forced) && (options.cutover ?? true)) {
      stage(
        'cutover',
        `switching searches to ${record.location}${forced ? ' (forced, although not verified)' : ''}; ${active.record.location} stays in sync as the standby`,
      );
      await swapActiveKeepingStandby(runtime.db, options.collection, record.id);
      await runtime.refreshIndexes();
      cutover = true;
    }
    return {
      collection: options.collection,
      from: versionRef(active.record),
      to: { ...versionRef(record), resumed: existing !== undefined },
      modelChanged,
      fill,
      completeness,
      shadow,
      evaluation,
      verified,
      problems,
      cutover,
      forced: forced && cutover,
    };
  } catch (error) {
    if (!options.keepOnAbort) {
      logger.warn(
        { index: record.location, err: (error as Error).message },
        isVectorsyncError(error, ErrorCode.Aborted)
          ? 'build aborted; dropping the new version'
          : 'build failed; dropping the new version',
      );
      await retireAndDrop(runtime, record, logger).catch((dropError: Error) =>
        logger.warn({ index: record.location, err: dropError.message }, 'could not drop the new version'),
      );
    }
    throw error;
  }
}

/** The default fill: the source rows, page by page in key order. */
async function fillFromSource(
  runtime: VectorsyncRuntime,
  options: BuildIndexVersionOptions,
): Promise<VersionFill> {
  const total = await sourceRowCount(runtime.db, runtime.collection(options.collection).definition);
  return {
    source: `${total} source rows`,
    run: (context) =>
      fillIndexFromSource(runtime, {
        collection: options.collection,
        indexId: context.indexId,
        pageSize: options.pageSize ?? 500,
        logger: context.logger,
        ...(context.signal ? { signal: context.signal } : {}),
        onProgress: (progress) => context.onProgress(progress.done, Math.max(total, progress.done)),
      }),
  };
}

function versionRef(record: IndexRecord): IndexVersionRef {
  return {
    indexId: record.id,
    location: record.location,
    store: record.store,
    embedderModel: record.embedderModel,
    dimensions: record.dimensions,
  };
}

function verificationProblems(input: {
  fill: FillResult;
  completeness: CompletenessReport;
  shadow: ModeAgreement[];
  evaluation: VersionEvaluation | null;
  minOverlap: number | null;
  maxNdcgDrop: number;
}): string[] {
  const { fill, completeness, shadow, evaluation } = input;
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
      `new version differs from the source: ${[...kinds].map(([kind, n]) => `${n} ${kind}`).join(', ')}`,
    );
  }
  for (const tenant of completeness.countsComparable ? completeness.tenants : []) {
    if (tenant.source !== tenant.index)
      problems.push(
        `tenant ${tenant.tenant}: ${tenant.source} source rows, ${tenant.index} in the new version`,
      );
  }
  const semantic = shadow.find((report) => report.mode === 'semantic');
  if (
    input.minOverlap !== null &&
    semantic?.overlap !== null &&
    semantic?.overlap !== undefined &&
    semantic.overlap < input.minOverlap
  )
    problems.push(
      `semantic overlap@10 ${semantic.overlap.toFixed(3)} is below --min-overlap ${input.minOverlap}`,
    );
  for (const mode of evaluation?.modes ?? []) {
    if (mode.to < mode.from - input.maxNdcgDrop)
      problems.push(
        `${mode.mode} nDCG@10 on ${evaluation!.dataset} drops from ${mode.from.toFixed(3)} to ${mode.to.toFixed(3)} (more than ${input.maxNdcgDrop})`,
      );
  }
  return problems;
}

/**
 * Waits until every outbox event of the collection captured before now has been applied (or
 * failed), and, with a bus, until its apply consumer acknowledged every event published
 * before then, so a comparison sees what sync has done. Gives up after `timeoutMs`: the
 * comparison then reports what is still different.
 */
async function waitForSync(
  runtime: VectorsyncRuntime,
  collection: string,
  options: { timeoutMs: number; signal: AbortSignal | undefined; bus: EventBus | undefined },
): Promise<void> {
  const { signal, bus } = options;
  const since = await databaseNow(runtime.db);
  const deadline = Date.now() + options.timeoutMs;
  const consumer = applyConsumerName(runtime.config);
  let publishedThrough: number | undefined;
  while (Date.now() < deadline) {
    throwIfAborted(signal);
    if ((await countOpenEvents(runtime.db, collection, since)) === 0) {
      if (!bus) return;
      // Every event captured before `since` is on the stream now: the consumer must pass it.
      // The bus being away for a moment is waited out, not a reason to drop the build.
      const position = await bus.consumerPosition({ consumer, collection }).catch((error: Error) => {
        runtime.logger.warn({ collection, err: error.message }, 'could not read the bus consumer position');
        return undefined;
      });
      if (position) {
        publishedThrough ??= position.lastSequence;
        if (position.caughtUp || position.ackedThrough >= publishedThrough) return;
      }
    }
    await sleep(200, signal);
  }
  runtime.logger.warn(
    { collection, timeoutMs: options.timeoutMs },
    'sync did not catch up in time; comparing anyway',
  );
}
