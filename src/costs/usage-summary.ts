import type { SqlExecutor } from '../db/database.js';
import { periodBounds } from './embedding-budgets.js';
import { addKnown } from './embedding-prices.js';

/** What a collection's embedding cost over a period, from the ledger (all lanes, all models). */
export interface SpendSummary {
  requests: number;
  texts: number;
  tokens: number;
  /** Of `tokens`, those our tokenizer counted because the provider's answer had none. */
  estimatedTokens: number;
  /** Null when no model used had a price: unknown, not free. */
  costUsd: number | null;
  /** Texts the embedding cache answered instead of the provider, and what that saved. */
  cachedTexts: number;
  savedUsd: number | null;
  /** Cost by lane: sync (live changes, backfills, fills), batch (the batch API), query (searches). */
  byLane: Record<string, { tokens: number; costUsd: number | null }>;
}

export interface CollectionSpend {
  today: SpendSummary;
  month: SpendSummary;
}

interface Row {
  collection: string;
  lane: string;
  in_today: boolean;
  requests: string;
  texts: string;
  tokens: string;
  estimated_tokens: string;
  cost_usd: string | null;
  cached_texts: string;
  saved_usd: string | null;
}

export function emptySpend(): SpendSummary {
  return {
    requests: 0,
    texts: 0,
    tokens: 0,
    estimatedTokens: 0,
    costUsd: null,
    cachedTexts: 0,
    savedUsd: null,
    byLane: {},
  };
}

/** Today's and this month's spend (UTC) per collection, in one scan of the month's ledger rows. */
export async function readSpend(db: SqlExecutor, now = new Date()): Promise<Map<string, CollectionSpend>> {
  const today = now.toISOString().slice(0, 10);
  const month = periodBounds('month', now);
  const result = await db.query<Row>(
    `SELECT collection, lane, day = $2::date AS in_today,
            sum(requests)::text AS requests, sum(texts)::text AS texts, sum(tokens)::text AS tokens,
            sum(estimated_tokens)::text AS estimated_tokens, sum(cost_usd)::text AS cost_usd,
            sum(cached_texts)::text AS cached_texts, sum(saved_usd)::text AS saved_usd
       FROM vectorsync.embedding_usage
      WHERE day >= $1::date AND day < $3::date
      GROUP BY collection, lane, day = $2::date`,
    [month.start, today, month.end],
  );
  const spend = new Map<string, CollectionSpend>();
  for (const row of result.rows) {
    let entry = spend.get(row.collection);
    if (!entry) {
      entry = { today: emptySpend(), month: emptySpend() };
      spend.set(row.collection, entry);
    }
    add(entry.month, row);
    if (row.in_today) add(entry.today, row);
  }
  return spend;
}

function add(summary: SpendSummary, row: Row): void {
  const cost = row.cost_usd === null ? null : Number(row.cost_usd);
  summary.requests += Number(row.requests);
  summary.texts += Number(row.texts);
  summary.tokens += Number(row.tokens);
  summary.estimatedTokens += Number(row.estimated_tokens);
  summary.cachedTexts += Number(row.cached_texts);
  summary.costUsd = addKnown(summary.costUsd, cost);
  summary.savedUsd = addKnown(summary.savedUsd, row.saved_usd === null ? null : Number(row.saved_usd));
  const lane = summary.byLane[row.lane] ?? { tokens: 0, costUsd: null };
  lane.tokens += Number(row.tokens);
  lane.costUsd = addKnown(lane.costUsd, cost);
  summary.byLane[row.lane] = lane;
}
