import type { Command } from 'commander';
import { migrate } from '../../db/migrator.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { setupCollections } from '../../sync/setup-collections.js';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';
import { backfillWork, planSpend, type SpendOptions, spendOptionHelp } from '../spend-planning.js';
import { waitForDrain } from '../wait-for-drain.js';

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description(
      'migrate, install capture triggers, create indexes and backfill new ones from the source (idempotent)',
    )
    .option('-c, --collection <name...>', 'only these collections')
    .option(
      '--rebuild',
      'replaced by `vectorsync reembed`, which keeps searches on the current version until the cut-over',
    )
    .option(
      '--wait',
      'show progress until the backfill is applied; with no worker running, apply it in this process',
    )
    .option('--dry-run', spendOptionHelp.dryRun)
    .option('--yes', spendOptionHelp.yes)
    .option('--batch', spendOptionHelp.batch)
    .action(
      async (commandOptions: { collection?: string[]; rebuild?: boolean; wait?: boolean } & SpendOptions) => {
        const options = program.opts<GlobalOptions>();
        await withRuntime(
          options,
          async (runtime, logger) => {
            if (commandOptions.rebuild) {
              throw new VectorsyncError(
                ErrorCode.InvalidRequest,
                `setup --rebuild is gone: it let searches see a half-built index. Build the new version beside the serving one with \`vectorsync reembed --collection ${commandOptions.collection?.[0] ?? '<name>'}\` (docs/operations.md#changing-the-embedder)`,
              );
            }
            const backfills = () => backfillWork(runtime, commandOptions.collection);
            if (commandOptions.dryRun) {
              await planSpend(runtime, backfills(), commandOptions, logger);
              return;
            }
            await migrate(runtime.db, logger);
            await runtime.refreshIndexes();
            await planSpend(runtime, backfills(), commandOptions, logger);
            const results = await setupCollections(runtime, {
              ...(commandOptions.collection ? { collections: commandOptions.collection } : {}),
            });
            printTable(
              results.map((result) => ({
                collection: result.collection,
                index: result.index.location,
                model: `${result.index.embedderModel}/${result.index.dimensions}`,
                created: result.createdIndex,
                backfill: result.backfilled,
                retired: result.retiredIndexes.map((index) => index.location),
              })),
            );
            for (const result of results) {
              if (!result.settingsNotApplied) continue;
              process.stdout.write(
                `note: ${result.collection}: the config's ${result.settingsNotApplied.join(', ')} differ from what the serving version ${result.index.location} was built with; setup leaves it as it is. \`vectorsync reembed --collection ${result.collection}\` builds a version with them beside it (searches stay on ${result.index.location} until the verified cut-over)\n`,
              );
            }
            if (commandOptions.wait) await waitForDrain(runtime, { applyWhenNoWorker: true, logger });
          },
          { skipMigrationCheck: true },
        );
      },
    );
}
