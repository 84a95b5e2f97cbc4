import type { CostsConfig } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { type BudgetStanding, budgetStandings, listBudgets } from './embedding-budgets.js';
import type { EmbeddingLedger } from './embedding-ledger.js';
import { formatUsd, priceOf } from './embedding-prices.js';

/** How long budgets and their spend are reused before Postgres is asked again. */
const STANDINGS_TTL_MS = 1000;

/**
 * Decides, before a batch is sent to a billed provider, which tenants may spend: a spent
 * collection budget stops all of them, a spent tenant budget that tenant. The answer is an
 * error per stopped tenant (transient EMBEDDING_BUDGET_EXHAUSTED with the wait until the next
 * look), so their work is retried later and never dropped; other tenants go on. Budgets and
 * spend are re-read at most every second, so concurrent workers may overshoot a budget by the
 * batches they have in flight. A hold is confirmed on a new read (shared by the batches holding
 * at that moment).
 */
export class BudgetGate {
  private readonly cached = new Map<string, { at: number; standings: Promise<BudgetStanding[]> }>();
  private readonly freshReads = new Map<string, Promise<BudgetStanding[]>>();

  constructor(
    private readonly db: SqlExecutor,
    private readonly ledger: EmbeddingLedger,
    private readonly costs: CostsConfig,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The stopped tenants of `collection` among `tenants`, each with the error its work fails with. */
  async blocked(
    collection: string,
    model: string,
    tenants: readonly string[],
  ): Promise<Map<string, VectorsyncError>> {
    const stopped = this.stoppedBy(await this.read(collection, false), model, tenants);
    // Holding work back: make sure of it on a new read, so work a raised budget has just woken
    // is not held again by what this process read up to a second before. Batches holding at
    // the same time share that read.
    if (stopped.size === 0) return stopped;
    return this.stoppedBy(await this.read(collection, true), model, tenants);
  }

  private async read(collection: string, fresh: boolean): Promise<BudgetStanding[]> {
    try {
      if (!fresh) return await this.standings(collection);
      let reading = this.freshReads.get(collection);
      if (!reading) {
        this.cached.delete(collection);
        reading = this.standings(collection).finally(() => this.freshReads.delete(collection));
        this.freshReads.set(collection, reading);
      }
      return await reading;
    } catch (error) {
      // Not knowing the budget is not a reason to fail a document for good: the work waits.
      throw new VectorsyncError(
        ErrorCode.SourceUnavailable,
        `reading the embedding budgets of "${collection}" failed: ${(error as Error).message}`,
        { cause: error, transient: true },
      );
    }
  }

  private stoppedBy(
    standings: readonly BudgetStanding[],
    model: string,
    tenants: readonly string[],
  ): Map<string, VectorsyncError> {
    const stopped = new Map<string, VectorsyncError>();
    if (standings.length === 0) return stopped;
    const unpriced = priceOf(this.costs, model) === undefined;
    for (const standing of standings) {
      if (!unpriced && !standing.exhausted) continue;
      for (const tenant of tenants) {
        if (stopped.has(tenant) || (standing.tenant !== '' && standing.tenant !== tenant)) continue;
        stopped.set(tenant, this.exhausted(standing, model, unpriced));
      }
    }
    return stopped;
  }

  /** Forgets what was read, so a budget just raised counts at once (tests, `budget set` here). */
  invalidate(collection?: string): void {
    if (collection === undefined) this.cached.clear();
    else this.cached.delete(collection);
  }

  private standings(collection: string): Promise<BudgetStanding[]> {
    const now = this.clock();
    const cached = this.cached.get(collection);
    if (cached && now.getTime() - cached.at < STANDINGS_TTL_MS) return this.withUnwritten(cached.standings);
    const standings = listBudgets(this.db, collection).then((budgets) =>
      budgetStandings(this.db, budgets, now),
    );
    this.cached.set(collection, { at: now.getTime(), standings });
    // A failed read is not cached: the next batch asks again.
    standings.catch(() => this.cached.delete(collection));
    return this.withUnwritten(standings);
  }

  /** Adds this process's unwritten spend (it is not in Postgres yet) to the cached standings. */
  private async withUnwritten(standings: Promise<BudgetStanding[]>): Promise<BudgetStanding[]> {
    return (await standings).map((standing) => {
      const spentUsd =
        standing.spentUsd +
        this.ledger.unwrittenSpend(
          standing.collection,
          standing.tenant === '' ? undefined : standing.tenant,
          standing.periodStart,
        );
      return { ...standing, spentUsd, exhausted: spentUsd >= standing.limitUsd };
    });
  }

  private exhausted(standing: BudgetStanding, model: string, unpriced: boolean): VectorsyncError {
    const scope =
      standing.tenant === ''
        ? `collection "${standing.collection}"`
        : `tenant "${standing.tenant}" of collection "${standing.collection}"`;
    const untilPeriodEnd = Date.parse(`${standing.periodEnd}T00:00:00Z`) - this.clock().getTime();
    const retryAfterMs = Math.max(100, Math.min(this.costs.budgetRecheckMs, untilPeriodEnd));
    const message = unpriced
      ? `the ${standing.period} embedding budget of ${scope} cannot be measured: model ${model} has no price in costs.prices; embedding waits (nothing is dropped) until a price is configured or the budget is cleared`
      : `the ${standing.period} embedding budget of ${scope} is spent: ${formatUsd(standing.spentUsd)} of ${formatUsd(standing.limitUsd)} since ${standing.periodStart}; embedding waits (nothing is dropped) until the budget is raised (vectorsync budget set) or the period ends`;
    return new VectorsyncError(ErrorCode.EmbeddingBudgetExhausted, message, {
      transient: true,
      details: {
        collection: standing.collection,
        tenant: standing.tenant,
        period: standing.period,
        limitUsd: standing.limitUsd,
        spentUsd: standing.spentUsd,
        retryAfterMs,
      },
    });
  }
}
