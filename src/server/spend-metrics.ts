import { Gauge, type Registry } from 'prom-client';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { readSyncStatus, type SyncStatus } from '../status/sync-status.js';

/**
 * Embedding spend and provider limits: today's tokens and cost from the ledger (every process's,
 * read at scrape time), the budgets that hold work back, and this process's limiter per provider.
 */
export function registerSpendMetrics(registry: Registry, runtime: VectorsyncRuntime): void {
  let snapshot: Promise<SyncStatus> | undefined;
  const status = () => {
    snapshot ??= readSyncStatus(runtime).finally(() => setTimeout(() => (snapshot = undefined), 100));
    return snapshot;
  };
  const spendGauges: Array<{
    name: string;
    help: string;
    pick: (spend: SyncStatus['collections'][number]['spend']['today']) => number | null;
  }> = [
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
  ];
  for (const gauge of spendGauges) {
    new Gauge({
      name: gauge.name,
      help: gauge.help,
      labelNames: ['collection'],
      registers: [registry],
      async collect() {
        const { collections } = await status();
        this.reset();
        for (const collection of collections) {
          const value = gauge.pick(collection.spend.today);
          if (value !== null) this.set({ collection: collection.collection }, value);
        }
      },
    });
  }
  new Gauge({
    name: 'vectorsync_embedding_budget_paused',
    help: "1 while a budget holds its scope's embedding back (its events wait; nothing is dropped)",
    labelNames: ['collection', 'tenant', 'period'],
    registers: [registry],
    async collect() {
      const { collections } = await status();
      this.reset();
      for (const collection of collections)
        for (const budget of collection.budgets)
          this.set(
            { collection: collection.collection, tenant: budget.tenant, period: budget.period },
            budget.paused ? 1 : 0,
          );
    },
  });
  const limiterGauges: Array<{
    name: string;
    help: string;
    pick: (state: ReturnType<VectorsyncRuntime['embedderLimits']>[number]['state']) => number;
  }> = [
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
  ];
  for (const gauge of limiterGauges) {
    new Gauge({
      name: gauge.name,
      help: gauge.help,
      labelNames: ['model', 'base_url'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { model, baseUrl, state } of runtime.embedderLimits())
          this.set({ model, base_url: baseUrl }, gauge.pick(state));
      },
    });
  }
}
