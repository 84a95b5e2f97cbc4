import type { CostsConfig, ModelPrice } from '../config/config-schema.js';

export type SpendLane = 'sync' | 'batch' | 'query';

/**
 * The configured price of a model, looked up by its model id (`openai:text-embedding-3-small`)
 * or its bare model name (`text-embedding-3-small`); undefined when none is configured.
 */
export function priceOf(costs: CostsConfig, modelId: string): ModelPrice | undefined {
  const bare = modelId.includes(':') ? modelId.slice(modelId.indexOf(':') + 1) : modelId;
  return costs.prices[modelId] ?? costs.prices[bare];
}

/** US dollars for `tokens` in `lane`, or null when the model has no price (unknown is not 0). */
export function costOf(price: ModelPrice | undefined, tokens: number, lane: SpendLane): number | null {
  if (!price) return null;
  const perMillion =
    lane === 'batch' ? (price.batchPerMillionTokens ?? price.perMillionTokens) : price.perMillionTokens;
  return (tokens / 1_000_000) * perMillion;
}

/** Dollars for people: cents above a dollar, more digits below (embedding spend is often fractions of a cent). */
export function formatUsd(amount: number | null): string {
  if (amount === null) return 'unknown (no price in costs.prices)';
  if (amount >= 1) return `$${amount.toFixed(2)}`;
  if (amount === 0) return '$0';
  return `$${amount.toPrecision(3)}`;
}

/** A sum of amounts where unknown (null) plus known is the known part, and unknown alone stays unknown. */
export function addKnown(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a + b;
}
