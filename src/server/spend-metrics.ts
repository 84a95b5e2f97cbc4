import { Gauge, type Registry } from 'prom-client';
import type { SpendSummary } from '../costs/usage-summary.js';
import type { LimiterState } from '../embedders/provider-limiter.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import type { SyncStatus } from '../status/sync-status.js';

type Labels = Record<string, string>;

/** Gauges of one shape: each value is picked from the samples `collect` reads at scrape time. */
function gauges<Sample>(
  registry: Registry,
  labelNames: string[],
  samples: () =>
    | Promise<Array<{ labels: Labels; sample: Sample }>>
    | Array<{ labels: Labels; sample: Sample }>,
  definitions: Array<{ name: string; help: string; pick: (sample: Sample) => number | null }>,
): void {
  for (const { name, help, pick } of definitions) {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const read = await samples();
        this.reset();
        for (const { labels, sample } of read) {
          const value = pick(sample);
          if (value !== null) this.set(labels, value);
        }
      },
    });
  }
}

/**
 * Embedding spend and provider limits: today's tokens and cost from the ledger (every process's,
 * read at scrape time from the status snapshot the other gauges share), the budgets that hold
 * work back, and this process's limiter per provider.
 */
export function registerSpendMetrics(
  registry: Registry,
  runtime: VectorsyncRuntime,
  status: () => Promise<SyncStatus>,
): void {
  gauges<SpendSummary>(
    registry,
    ['collection'],
    async () =>
      (await status()).collections.map((collection) => ({
        labels: { collection: collection.collection },
        sample: collection.spend.today,
      })),
    [
      {
        name: 'vectorsync_embedding_tokens_today',
        help: 'Tokens sent to billed embedding providers today (UTC), from the ledger',
        pick: (spend) => spend.tokens,
      },
      {
        name: 'vectorsync_embedding_cost_usd_today',
        help: 'What those tokens cost at the configured prices (absent: no price configured)',
        pick: (spend) => spend.costUsd,
      },
      {
        name: 'vectorsync_embedding_cached_texts_today',
        help: 'Texts the embedding cache answered instead of a billed provider today',
        pick: (spend) => spend.cachedTexts,
      },
      {
        name: 'vectorsync_embedding_saved_usd_today',
        help: 'What the cache hits saved at the configured prices',
        pick: (spend) => spend.savedUsd,
      },
    ],
  );
  gauges<boolean>(
    registry,
    ['collection', 'tenant', 'period'],
    async () =>
      (await status()).collections.flatMap((collection) =>
        collection.budgets.map((budget) => ({
          labels: { collection: collection.collection, tenant: budget.tenant, period: budget.period },
          sample: budget.paused,
        })),
      ),
    [
      {
        name: 'vectorsync_embedding_budget_paused',
        help: "1 while a budget holds its scope's embedding back (its events wait; nothing is dropped)",
        pick: (paused) => (paused ? 1 : 0),
      },
    ],
  );
  gauges<LimiterState>(
    registry,
    ['model', 'base_url'],
    () =>
      runtime.embedderLimits().map(({ model, baseUrl, state }) => ({
        labels: { model, base_url: baseUrl },
        sample: state,
      })),
    [
      {
        name: 'vectorsync_embedder_throttled_total',
        help: '429 answers from the provider (this process)',
        pick: (state) => state.throttled,
      },
      {
        name: 'vectorsync_embedder_deferred_total',
        help: 'Calls deferred because the provider was at its limit for longer than limits.maxWaitMs',
        pick: (state) => state.deferred,
      },
      {
        name: 'vectorsync_embedder_blocked_seconds',
        help: 'How much longer the provider asked us to wait (Retry-After, reset headers)',
        pick: (state) => (state.blockedUntil > 0 ? Math.max(0, (state.blockedUntil - Date.now()) / 1000) : 0),
      },
      {
        name: 'vectorsync_embedder_rate_factor',
        help: 'Share of the configured rates in use after adaptive backoff (1: all)',
        pick: (state) => state.rateFactor,
      },
      {
        name: 'vectorsync_embedder_in_flight_requests',
        help: 'Requests to the provider in flight (this process)',
        pick: (state) => state.inFlight,
      },
    ],
  );
}
