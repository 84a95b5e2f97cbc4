import { createInterface } from 'node:readline/promises';
import type { EmbeddingPlan } from '../costs/embedding-plan.js';
import { formatUsd } from '../costs/embedding-prices.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { printTable } from './cli-context.js';

/** The estimate, a row per collection: what would be read, what the cache already has, what it costs. */
export function printPlans(plans: readonly EmbeddingPlan[]): void {
  printTable(
    plans.map((plan) => ({
      collection: plan.collection,
      model: plan.model,
      rows: plan.rows,
      texts: plan.inputs,
      distinct: plan.distinct,
      cached: plan.cached,
      'to embed': plan.toEmbed,
      tokens: `${plan.tokensExact ? '' : '~'}${plan.tokens.toLocaleString('en-US')}`,
      cost: plan.billed ? formatUsd(plan.costUsd) : 'not billed',
      'batch lane': plan.billed ? formatUsd(plan.batchCostUsd) : '-',
    })),
  );
}

/**
 * Asks before spending more than costs.confirmAboveUsd (or an unknown amount: a billed model
 * without a price). `--yes` confirms; without it, a terminal is asked and anything else refused,
 * so a script never spends by accident.
 */
export async function confirmSpend(
  plans: readonly EmbeddingPlan[],
  options: { yes: boolean; thresholdUsd: number; batch: boolean },
): Promise<void> {
  const billed = plans.filter((plan) => plan.billed && plan.toEmbed > 0);
  if (billed.length === 0) return;
  const unknown = billed.filter((plan) => (options.batch ? plan.batchCostUsd : plan.costUsd) === null);
  const total = billed.reduce(
    (sum, plan) => sum + ((options.batch ? plan.batchCostUsd : plan.costUsd) ?? 0),
    0,
  );
  if (unknown.length === 0 && total <= options.thresholdUsd) return;
  const what =
    unknown.length > 0
      ? `an unknown amount (no price in costs.prices for ${unknown.map((plan) => plan.model).join(', ')})${total > 0 ? ` plus ${formatUsd(total)}` : ''}`
      : `about ${formatUsd(total)}, over costs.confirmAboveUsd ${formatUsd(options.thresholdUsd)}`;
  const texts = billed.reduce((sum, plan) => sum + plan.toEmbed, 0);
  const question = `Embedding ${texts.toLocaleString('en-US')} texts will cost ${what}.`;
  if (options.yes) {
    process.stderr.write(`${question} Confirmed by --yes.\n`);
    return;
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new VectorsyncError(
      ErrorCode.SpendNotConfirmed,
      `${question} Nothing was done: run again with --yes to confirm (or --dry-run to see the estimate)`,
      { details: { texts, costUsd: unknown.length > 0 ? null : total } },
    );
  }
  printPlans(billed);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await prompt.question(`${question} Go on? [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes')
      throw new VectorsyncError(ErrorCode.SpendNotConfirmed, 'not confirmed: nothing was done');
  } finally {
    prompt.close();
  }
}
