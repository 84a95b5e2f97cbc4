import type { SqlExecutor } from '../db/database.js';
import { ErrorCode } from '../errors.js';
import { wakeHeldEvents } from '../outbox/wake-held-events.js';

export type BudgetPeriod = 'day' | 'month';

export interface EmbeddingBudget {
  collection: string;
  /** '' caps the whole collection; otherwise one tenant. */
  tenant: string;
  period: BudgetPeriod;
  limitUsd: number;
}

export interface BudgetStanding extends EmbeddingBudget {
  /**
   * Spent on indexing in the current period (UTC day or calendar month), from the ledger: the
   * sync and batch lanes. Search queries are billed and recorded too but never counted here, so
   * search traffic cannot stop indexing.
   */
  spentUsd: number;
  /** Ledger rows of the period that have no price: their cost is unknown. */
  unpricedTokens: number;
  periodStart: string;
  periodEnd: string;
  exhausted: boolean;
}

/** The first day of the period `now` is in, and the first day of the next (UTC, YYYY-MM-DD). */
export function periodBounds(period: BudgetPeriod, now: Date): { start: string; end: string } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  const start = period === 'day' ? new Date(Date.UTC(y, m, d)) : new Date(Date.UTC(y, m, 1));
  const end = period === 'day' ? new Date(Date.UTC(y, m, d + 1)) : new Date(Date.UTC(y, m + 1, 1));
  return { start: start.toISOString().slice(0, 10), end: end.toISOString().slice(0, 10) };
}

export async function setBudget(db: SqlExecutor, budget: EmbeddingBudget): Promise<void> {
  await db.query(
    `INSERT INTO vectorsync.embedding_budgets (collection, tenant, period, limit_usd)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (collection, tenant, period) DO UPDATE SET limit_usd = EXCLUDED.limit_usd, updated_at = now()`,
    [budget.collection, budget.tenant, budget.period, budget.limitUsd],
  );
  // Work the budget held waits budgetRecheckMs between looks: due now, so raising it resumes at once.
  await wakeHeldEvents(db, budget.collection, ErrorCode.EmbeddingBudgetExhausted);
}

/** True when a budget was removed. */
export async function clearBudget(
  db: SqlExecutor,
  scope: Pick<EmbeddingBudget, 'collection' | 'tenant' | 'period'>,
): Promise<boolean> {
  const result = await db.query(
    'DELETE FROM vectorsync.embedding_budgets WHERE collection = $1 AND tenant = $2 AND period = $3',
    [scope.collection, scope.tenant, scope.period],
  );
  if ((result.rowCount ?? 0) === 0) return false;
  await wakeHeldEvents(db, scope.collection, ErrorCode.EmbeddingBudgetExhausted);
  return true;
}

export async function listBudgets(db: SqlExecutor, collection?: string): Promise<EmbeddingBudget[]> {
  const result = await db.query<{
    collection: string;
    tenant: string;
    period: BudgetPeriod;
    limit_usd: string;
  }>(
    `SELECT collection, tenant, period, limit_usd::text FROM vectorsync.embedding_budgets
     WHERE $1::text IS NULL OR collection = $1 ORDER BY collection, tenant, period`,
    [collection ?? null],
  );
  return result.rows.map((row) => ({
    collection: row.collection,
    tenant: row.tenant,
    period: row.period,
    limitUsd: Number(row.limit_usd),
  }));
}

/** Each budget with what its scope has spent in the current period, from the ledger. */
export async function budgetStandings(
  db: SqlExecutor,
  budgets: readonly EmbeddingBudget[],
  now: Date,
  unwritten: (budget: EmbeddingBudget, sinceDay: string) => number = () => 0,
): Promise<BudgetStanding[]> {
  if (budgets.length === 0) return [];
  const bounds = budgets.map((budget) => periodBounds(budget.period, now));
  const result = await db.query<{ ordinal: number; spent: string | null; unpriced: string | null }>(
    `SELECT b.ordinal::int,
            (SELECT sum(u.cost_usd) FROM vectorsync.embedding_usage u
              WHERE u.collection = b.collection AND (b.tenant = '' OR u.tenant = b.tenant)
                AND u.day >= b.start AND u.day < b.finish AND u.lane <> 'query')::text AS spent,
            (SELECT sum(u.tokens) FROM vectorsync.embedding_usage u
              WHERE u.collection = b.collection AND (b.tenant = '' OR u.tenant = b.tenant)
                AND u.day >= b.start AND u.day < b.finish AND u.lane <> 'query'
                AND u.cost_usd IS NULL AND u.tokens > 0)::text AS unpriced
       FROM unnest($1::text[], $2::text[], $3::date[], $4::date[]) WITH ORDINALITY
            AS b(collection, tenant, start, finish, ordinal)`,
    [
      budgets.map((budget) => budget.collection),
      budgets.map((budget) => budget.tenant),
      bounds.map((bound) => bound.start),
      bounds.map((bound) => bound.end),
    ],
  );
  const byOrdinal = new Map(result.rows.map((row) => [row.ordinal, row]));
  return budgets.map((budget, index) => {
    const row = byOrdinal.get(index + 1);
    const { start, end } = bounds[index]!;
    const spentUsd = Number(row?.spent ?? 0) + unwritten(budget, start);
    const unpricedTokens = Number(row?.unpriced ?? 0);
    return {
      ...budget,
      spentUsd,
      unpricedTokens,
      periodStart: start,
      periodEnd: end,
      exhausted: spentUsd >= budget.limitUsd,
    };
  });
}
