import { prewarmThroughBatches } from '../costs/batch-prewarm.js';
import { type EmbeddingPlan, planEmbedding } from '../costs/embedding-plan.js';
import { isBilled } from '../costs/metered-embedding.js';
import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import type { Logger } from '../logger.js';
import { NoEmbeddingCache } from '../pipeline/embedding-cache.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { confirmSpend, printPlans } from './spend-confirmation.js';

export interface SpendOptions {
  dryRun?: boolean;
  yes?: boolean;
  batch?: boolean;
}

/** What `setup` would backfill: the collections (of `names`, default all) that have no index yet. */
export function backfillWork(
  runtime: VectorsyncRuntime,
  names?: readonly string[],
): Array<{ collection: string; profile: EmbeddingProfile }> {
  return (names ?? [...runtime.collections.keys()])
    .map((name) => runtime.collection(name))
    .filter((collection) => !collection.targets.some((target) => target.record.state === 'active'))
    .map((collection) => ({ collection: collection.name, profile: collection.embedding }));
}

/** The options every command that embeds a whole collection takes. */
export const spendOptionHelp = {
  dryRun:
    'estimate only: rows, texts to embed (after the cache and identical texts), tokens and cost; nothing is changed',
  yes: 'confirm a spend over costs.confirmAboveUsd without asking (for scripts)',
  batch:
    "embed through OpenAI's Batch API first (half price, up to 24 h; resumable: run again to pick up the batches), then build from the cache",
};

/**
 * Before a command embeds whole collections: the dry run's estimate (printed; returns false so
 * the command stops), the batch lane (which fills the cache first), or the confirmation of a
 * spend over costs.confirmAboveUsd. Local embedders cost nothing and are never asked about.
 */
export async function planSpend(
  runtime: VectorsyncRuntime,
  work: ReadonlyArray<{ collection: string; profile: EmbeddingProfile }>,
  options: SpendOptions,
  logger: Logger,
): Promise<boolean> {
  if (options.dryRun) {
    const cacheReady = await runtime.db.query<{ ready: boolean }>(
      `SELECT to_regclass('vectorsync.embedding_cache') IS NOT NULL AS ready`,
    );
    const empty = cacheReady.rows[0]?.ready ? undefined : new NoEmbeddingCache();
    const plans: EmbeddingPlan[] = [];
    for (const { collection, profile } of work)
      plans.push(await planEmbedding(runtime, collection, profile, empty ? { cache: empty } : {}));
    printPlans(plans);
    const total = plans.reduce((sum, plan) => sum + (plan.costUsd ?? 0), 0);
    process.stdout.write(
      `\ndry run: nothing was changed.${plans.some((plan) => plan.billed) ? ` Estimated cost ${total.toFixed(6)} USD (the batch lane: ${plans.reduce((sum, plan) => sum + (plan.batchCostUsd ?? 0), 0).toFixed(6)} USD)${plans.some((plan) => plan.billed && plan.costUsd === null) ? '; a model without a price in costs.prices is not counted' : ''}.` : ''}\n`,
    );
    return false;
  }
  const thresholdUsd = runtime.config.costs.confirmAboveUsd;
  const billed = work.filter(({ profile }) => isBilled(profile.embedder));
  if (options.batch) {
    for (const { collection } of work.filter((item) => !billed.includes(item)))
      process.stderr.write(
        `[batch] ${collection}: its embedder is not billed; it is built without the batch lane\n`,
      );
    for (const { collection, profile } of billed) {
      const { report } = await prewarmThroughBatches(runtime, collection, profile, {
        logger,
        pollIntervalMs: runtime.config.costs.batchPollIntervalMs,
        beforeSubmit: (plan) =>
          confirmSpend([plan], { yes: options.yes ?? false, thresholdUsd, batch: true }),
        onProgress: (progress) =>
          process.stderr.write(
            `[batch] ${collection}: ${progress.completed} embedded, ${progress.pending} pending, ${progress.failed} failed in ${progress.batches} batch(es)\n`,
          ),
      });
      process.stderr.write(
        `[batch] ${collection}: ${report.embedded} vectors in the cache (${report.tokens} tokens)${report.failed > 0 ? `; ${report.failed} texts failed every batch and would go through the synchronous API` : ''}\n`,
      );
      // What the batches could not do costs the synchronous price: asked about again.
      if (report.failed > 0)
        await confirmSpend([await planEmbedding(runtime, collection, profile)], {
          yes: options.yes ?? false,
          thresholdUsd,
          batch: false,
        });
    }
    return true;
  }
  // --yes confirms whatever the estimate says: no need to read the source for it.
  if (billed.length === 0 || options.yes) return true;
  const plans: EmbeddingPlan[] = [];
  for (const { collection, profile } of billed) plans.push(await planEmbedding(runtime, collection, profile));
  await confirmSpend(plans, { yes: options.yes ?? false, thresholdUsd, batch: false });
  return true;
}
