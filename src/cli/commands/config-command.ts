import type { Command } from 'commander';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('check')
    .description('validate the config and check every collection against its live source table')
    .action(async () => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        printTable(
          [...runtime.collections.values()].map((collection) => ({
            collection: collection.name,
            table: `${collection.definition.table.schema}.${collection.definition.table.name}`,
            'primary key': collection.definition.keyColumns
              .map((column) => `${column.name} (${column.type})`)
              .join(', '),
            tenant: collection.definition.tenantColumn.name,
            version: `${collection.definition.versionColumn.name} (${collection.definition.versionKind})`,
            embedder: `${collection.embedder.modelId}/${collection.embedder.dimensions}`,
            store: `${collection.storeName} (${collection.store.kind})`,
            index:
              collection.targets.find((t) => t.record.state === 'active')?.record.location ??
              'none: run setup',
          })),
        );
        process.stdout.write('config OK\n');
      });
    });
}
