import type { Command } from 'commander';
import { migrate } from '../../db/migrator.js';
import { setupCollections } from '../../sync/setup-collections.js';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';
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
      'build a new index version from the source, replacing the current one (e.g. after changing the embedder)',
    )
    .option(
      '--wait',
      'show progress until the backfill is applied; with no worker running, apply it in this process',
    )
    .action(async (commandOptions: { collection?: string[]; rebuild?: boolean; wait?: boolean }) => {
      const options = program.opts<GlobalOptions>();
      await withRuntime(
        options,
        async (runtime, logger) => {
          await migrate(runtime.db, logger);
          await runtime.refreshIndexes();
          const results = await setupCollections(runtime, {
            ...(commandOptions.collection ? { collections: commandOptions.collection } : {}),
            rebuild: commandOptions.rebuild ?? false,
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
          if (commandOptions.wait) await waitForDrain(runtime, { applyWhenNoWorker: true, logger });
        },
        { skipMigrationCheck: true },
      );
    });
}
