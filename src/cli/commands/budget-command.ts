import { type Command, InvalidArgumentError } from 'commander';
import {
  type BudgetPeriod,
  budgetStandings,
  clearBudget,
  listBudgets,
  setBudget,
} from '../../costs/embedding-budgets.js';
import { formatUsd } from '../../costs/embedding-prices.js';
import { isBilled } from '../../costs/metered-embedding.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';
import { numberArgument } from '../number-argument.js';

interface ScopeOptions {
  collection: string;
  tenant?: string;
  period: BudgetPeriod;
}

function periodArgument(value: string): BudgetPeriod {
  if (value === 'day' || value === 'month') return value;
  throw new InvalidArgumentError(`"${value}" is not a period: day or month`);
}

export function registerBudgetCommand(program: Command): void {
  const budget = program
    .command('budget')
    .description(
      'embedding budgets per collection (or tenant) and UTC day or month: a spent budget pauses embedding for its scope (nothing is dropped); raising it resumes',
    );
  const scoped = (command: Command) =>
    command
      .requiredOption('-c, --collection <name>', 'the collection')
      .option('--tenant <tenant>', 'one tenant of the collection (default: the whole collection)')
      .option('--period <period>', 'day or month (UTC)', periodArgument, 'day' as BudgetPeriod);
  scoped(budget.command('set'))
    .description('set (or raise, or lower) a budget')
    .requiredOption(
      '--usd <amount>',
      'the most to spend in the period, in US dollars',
      numberArgument({ min: 0 }),
    )
    .action(async (options: ScopeOptions & { usd: number }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const collection = runtime.collection(options.collection);
        const tenant = options.tenant ?? '';
        if (!isBilled(collection.embedder))
          process.stderr.write(
            `warning: the embedder of "${options.collection}" (${collection.embedder.modelId}) is not billed, so this budget caps nothing; set "billed": true on it if its provider charges by the token\n`,
          );
        await setBudget(runtime.db, {
          collection: options.collection,
          tenant,
          period: options.period,
          limitUsd: options.usd,
        });
        process.stdout.write(
          `budget of ${tenant === '' ? `collection "${options.collection}"` : `tenant "${tenant}" of "${options.collection}"`} per ${options.period}: ${formatUsd(options.usd)}: work it held back is due again now\n`,
        );
      });
    });
  scoped(budget.command('clear'))
    .description('remove a budget')
    .action(async (options: ScopeOptions) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const removed = await clearBudget(runtime.db, {
          collection: options.collection,
          tenant: options.tenant ?? '',
          period: options.period,
        });
        if (!removed)
          throw new VectorsyncError(
            ErrorCode.NotFound,
            `no ${options.period} budget for ${options.tenant ? `tenant "${options.tenant}" of ` : ''}collection "${options.collection}"`,
          );
        process.stdout.write('budget removed\n');
      });
    });
  budget
    .command('list')
    .description('the budgets, with what each scope spent this period')
    .option('-c, --collection <name>', 'only this collection')
    .option('--json', 'print JSON')
    .action(async (options: { collection?: string; json?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const standings = await budgetStandings(
          runtime.db,
          await listBudgets(runtime.db, options.collection),
          new Date(),
        );
        if (options.json) return printJson(standings);
        printTable(
          standings.map((standing) => ({
            collection: standing.collection,
            scope: standing.tenant === '' ? 'collection' : `tenant ${standing.tenant}`,
            period: `${standing.period} from ${standing.periodStart}`,
            limit: formatUsd(standing.limitUsd),
            spent: formatUsd(standing.spentUsd),
            state: standing.exhausted ? 'SPENT: embedding paused' : 'ok',
          })),
        );
      });
    });
}
