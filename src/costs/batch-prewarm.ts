import {
  type BatchLaneProgress,
  type BatchLaneReport,
  runEmbeddingBatchLane,
} from '../embedders/embedding-batch-lane.js';
import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import { OpenAiBatchApi } from '../embedders/openai-batch-api.js';
import { OpenAiEmbedder } from '../embedders/openai-embedder.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { budgetStandings, listBudgets } from './embedding-budgets.js';
import { type EmbeddingPlan, planEmbedding } from './embedding-plan.js';
import { formatUsd } from './embedding-prices.js';

export interface PrewarmOptions {
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  signal?: AbortSignal;
  /** Poll until every batch ended (default); false submits and returns, a later run resumes. */
  wait?: boolean;
  pollIntervalMs?: number;
  /** Called with the plan before anything is submitted (the CLI confirms the spend here). */
  beforeSubmit?: (plan: EmbeddingPlan) => Promise<void>;
  onProgress?: (progress: BatchLaneProgress) => void;
}

/**
 * The batch lane of a backfill or re-embed: every text of the collection that the embedding
 * cache lacks goes through OpenAI's Batch API (half the price, within 24 hours), and the vectors
 * land in the Postgres cache, so the fill that follows sends nothing to the synchronous API but
 * what the batches could not do. Live changes keep using the synchronous API meanwhile. What the
 * batches cost is recorded in the ledger's 'batch' lane (collection-wide: a batch is not split
 * by tenant), and a spent collection budget refuses to submit.
 */
export async function prewarmThroughBatches(
  runtime: VectorsyncRuntime,
  collectionName: string,
  profile: EmbeddingProfile,
  options: PrewarmOptions,
): Promise<{ plan: EmbeddingPlan; report: BatchLaneReport }> {
  const { config, embedder } = profile;
  if (config.provider !== 'openai' || !(embedder instanceof OpenAiEmbedder))
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `--batch needs an OpenAI embedder; collection "${collectionName}" embeds with ${embedder.modelId}`,
    );
  if (config.cache !== 'postgres')
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `--batch fills the Postgres embedding cache, but the embedder of "${collectionName}" has cache "${config.cache}": set its cache to "postgres"`,
    );
  await embedder.init();
  const texts: Array<{ hash: string; text: string }> = [];
  const plan = await planEmbedding(runtime, collectionName, profile, {
    ...(options.signal ? { signal: options.signal } : {}),
    onTexts: (page) => {
      for (const { hash, text } of page) texts.push({ hash, text: embedder.prepareInput(text) });
    },
  });
  const stopped = await runtime.budgets.blocked(collectionName, embedder.modelId, ['']);
  const budget = stopped.get('');
  if (budget && texts.length > 0) throw budget;
  await refuseOverBudget(runtime, collectionName, plan);
  await options.beforeSubmit?.(plan);
  const env = options.env ?? process.env;
  const api = new OpenAiBatchApi({
    baseUrl: config.baseUrl,
    apiKey: env[config.apiKeyEnv] || undefined,
    timeoutMs: Math.max(config.timeoutMs, 300_000),
    logger: options.logger,
  });
  const report = await runEmbeddingBatchLane({
    db: runtime.db,
    collection: collectionName,
    config,
    modelId: embedder.modelId,
    dimensions: embedder.dimensions,
    cache: profile.cache,
    api,
    texts,
    wait: options.wait ?? true,
    logger: options.logger,
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    onUsage: (tokens, requests) =>
      runtime.ledger.record({
        collection: collectionName,
        tenant: '',
        model: embedder.modelId,
        lane: 'batch',
        requests,
        texts: requests,
        tokens,
        estimatedTokens: 0,
        cachedTexts: 0,
        cachedTokens: 0,
      }),
  });
  await runtime.ledger.flush();
  return { plan, report };
}

/**
 * A batch is paid for as a whole, up to a day later: one that would spend more than what is left
 * of a collection budget is not submitted at all (tenant budgets are not split out of a batch).
 */
async function refuseOverBudget(
  runtime: VectorsyncRuntime,
  collection: string,
  plan: EmbeddingPlan,
): Promise<void> {
  if (plan.batchCostUsd === null || plan.batchCostUsd === 0) return;
  const budgets = (await listBudgets(runtime.db, collection)).filter((budget) => budget.tenant === '');
  for (const standing of await budgetStandings(runtime.db, budgets, new Date())) {
    const left = standing.limitUsd - standing.spentUsd;
    if (plan.batchCostUsd <= left) continue;
    throw new VectorsyncError(
      ErrorCode.EmbeddingBudgetExhausted,
      `the batch for "${collection}" would cost ${formatUsd(plan.batchCostUsd)}, more than the ${formatUsd(Math.max(0, left))} left of its ${standing.period} budget (${formatUsd(standing.limitUsd)}); nothing was submitted: raise it with \`vectorsync budget set\`, or run without --batch to embed as the budget allows`,
      {
        details: {
          collection,
          period: standing.period,
          limitUsd: standing.limitUsd,
          spentUsd: standing.spentUsd,
          costUsd: plan.batchCostUsd,
        },
      },
    );
  }
}
