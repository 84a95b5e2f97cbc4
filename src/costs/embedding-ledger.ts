import type { CostsConfig } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import type { Logger } from '../logger.js';
import { addKnown, costOf, priceOf, type SpendLane } from './embedding-prices.js';

/** What one scope spent (or saved) in one batch of work. */
export interface UsageEntry {
  collection: string;
  /** '' for work that has no tenant (a collection-wide query, say). */
  tenant: string;
  model: string;
  lane: SpendLane;
  requests: number;
  texts: number;
  tokens: number;
  /** Of `tokens`, those our tokenizer counted because the provider did not say. */
  estimatedTokens: number;
  cachedTexts: number;
  cachedTokens: number;
}

interface PendingRow extends UsageEntry {
  day: string;
  costUsd: number | null;
  savedUsd: number | null;
}

/** The most distinct rows held when Postgres cannot be written (older counts are kept, newer merged). */
const MAX_PENDING_ROWS = 10_000;

/**
 * The token and cost ledger (vectorsync.embedding_usage). Entries are summed in memory and
 * written every costs.ledgerFlushMs in one statement, so counting costs the hot path nothing
 * but an addition; budgets add what is not written yet. A write that fails is kept and tried
 * again (a warning each time): accounting never fails or slows the work it accounts for. A
 * process that dies loses at most one flush interval of counts.
 */
export class EmbeddingLedger {
  private pending = new Map<string, PendingRow>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Flushes that failed (for metrics). */
  failedFlushes = 0;
  /** Entries recorded since start (for metrics). */
  recorded = 0;

  constructor(
    private readonly db: SqlExecutor,
    private readonly costs: CostsConfig,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  record(entry: UsageEntry): void {
    if (entry.requests === 0 && entry.texts === 0 && entry.cachedTexts === 0) return;
    const price = priceOf(this.costs, entry.model);
    const day = this.clock().toISOString().slice(0, 10);
    this.recorded++;
    this.merge({
      ...entry,
      day,
      costUsd: costOf(price, entry.tokens, entry.lane),
      savedUsd: costOf(price, entry.cachedTokens, 'sync'),
    });
    this.schedule();
  }

  /** Indexing dollars recorded here but not yet written, for a collection (and a tenant) since `day` (YYYY-MM-DD). */
  unwrittenSpend(collection: string, tenant: string | undefined, sinceDay: string): number {
    let total = 0;
    for (const row of this.pending.values()) {
      if (row.collection !== collection || row.day < sinceDay || row.lane === 'query') continue;
      if (tenant !== undefined && row.tenant !== tenant) continue;
      total += row.costUsd ?? 0;
    }
    return total;
  }

  /** Writes what is pending now (and waits for a write already under way). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.write(rows).finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.costs.ledgerFlushMs);
    this.timer.unref();
  }

  private async write(rows: PendingRow[]): Promise<void> {
    try {
      await this.db.query(
        `INSERT INTO vectorsync.embedding_usage AS u
           (day, collection, tenant, model, lane, requests, texts, tokens, estimated_tokens,
            cost_usd, cached_texts, cached_tokens, saved_usd)
         SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                              $7::bigint[], $8::bigint[], $9::bigint[], $10::numeric[], $11::bigint[],
                              $12::bigint[], $13::numeric[])
         ON CONFLICT (day, collection, tenant, model, lane) DO UPDATE SET
           requests = u.requests + EXCLUDED.requests,
           texts = u.texts + EXCLUDED.texts,
           tokens = u.tokens + EXCLUDED.tokens,
           estimated_tokens = u.estimated_tokens + EXCLUDED.estimated_tokens,
           cost_usd = CASE WHEN EXCLUDED.cost_usd IS NULL THEN u.cost_usd
                           ELSE coalesce(u.cost_usd, 0) + EXCLUDED.cost_usd END,
           cached_texts = u.cached_texts + EXCLUDED.cached_texts,
           cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens,
           saved_usd = CASE WHEN EXCLUDED.saved_usd IS NULL THEN u.saved_usd
                            ELSE coalesce(u.saved_usd, 0) + EXCLUDED.saved_usd END,
           updated_at = now()`,
        [
          rows.map((row) => row.day),
          rows.map((row) => row.collection),
          rows.map((row) => row.tenant),
          rows.map((row) => row.model),
          rows.map((row) => row.lane),
          rows.map((row) => row.requests),
          rows.map((row) => row.texts),
          rows.map((row) => row.tokens),
          rows.map((row) => row.estimatedTokens),
          rows.map((row) => row.costUsd),
          rows.map((row) => row.cachedTexts),
          rows.map((row) => row.cachedTokens),
          rows.map((row) => row.savedUsd),
        ],
      );
    } catch (error) {
      this.failedFlushes++;
      this.logger.warn(
        { rows: rows.length, error: (error as Error).message },
        'writing the embedding ledger failed; its counts are kept and written later',
      );
      for (const row of rows) this.merge(row);
      this.schedule();
    }
  }

  /** Adds a row to what is pending (a new entry, or an unwritten one put back). */
  private merge(row: PendingRow): void {
    const key = JSON.stringify([row.day, row.collection, row.tenant, row.model, row.lane]);
    const known = this.pending.get(key);
    if (!known) {
      if (this.pending.size < MAX_PENDING_ROWS) this.pending.set(key, { ...row });
      else
        this.logger.warn(
          { collection: row.collection },
          'embedding ledger is full (Postgres unwritable?); a count was dropped',
        );
      return;
    }
    known.requests += row.requests;
    known.texts += row.texts;
    known.tokens += row.tokens;
    known.estimatedTokens += row.estimatedTokens;
    known.cachedTexts += row.cachedTexts;
    known.cachedTokens += row.cachedTokens;
    known.costUsd = addKnown(known.costUsd, row.costUsd);
    known.savedUsd = addKnown(known.savedUsd, row.savedUsd);
  }
}
