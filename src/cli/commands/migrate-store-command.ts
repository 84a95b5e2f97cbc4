import type { Command } from 'commander';
import { createEventBus } from '../../bus/create-event-bus.js';
import {
  abortBuild,
  migrationState,
  retireStandby,
  rollbackToStandby,
} from '../../index-versions/migration-lifecycle.js';
import { migrateStore } from '../../index-versions/store-migration.js';
import { addBuildCheckOptions, type BuildCheckOptions } from '../build-check-options.js';
import { type GlobalOptions, printJson, withRuntime } from '../cli-context.js';
import { abortOnInterrupt, finishBuild, printVersions, stageProgress } from '../index-version-output.js';

interface MigrateStoreOptions extends BuildCheckOptions {
  collection: string;
  to?: string;
  cutover: boolean;
  keepOnAbort?: boolean;
  force?: boolean;
  rollback?: boolean;
  dropStandby?: boolean;
  abandon?: boolean;
  status?: boolean;
  json?: boolean;
}

export function registerMigrateStoreCommand(program: Command): void {
  addBuildCheckOptions(
    program
      .command('migrate-store')
      .description(
        'move a collection to another store: build from Postgres beside the live index, verify, cut over atomically; roll back by switching back',
      )
      .requiredOption('-c, --collection <name>', 'the collection')
      .option('--to <store>', 'target store (a key of `stores` in the config)'),
    'cut over only if semantic overlap@10 is at least this',
  )
    .option('--no-cutover', 'verify and keep the new index in sync, but do not switch searches to it')
    .option('--force', 'cut over even though a check did not pass (the problems are still printed)')
    .option('--keep-on-abort', 'keep the half-built index when aborted (default: drop it)')
    .option('--rollback', 'switch searches back to the standby (the previous store)')
    .option(
      '--drop-standby',
      'end the migration: stop writing the standby and drop it (after the config change)',
    )
    .option('--abandon', 'drop an index that was built but never cut over to')
    .option('--status', 'show the active, standby and building indexes')
    .option('--json', 'print the report as JSON')
    .action(async (options: MigrateStoreOptions) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const collection = options.collection;
        if (options.status || options.rollback || options.dropStandby || options.abandon) {
          if (options.rollback) await rollbackToStandby(runtime, collection);
          if (options.dropStandby) await retireStandby(runtime, collection, logger);
          if (options.abandon) await abortBuild(runtime, collection, logger);
          const state = await migrationState(runtime, collection);
          if (options.json) return printJson(state);
          printVersions(state);
          if (!state.configMatches) {
            process.stdout.write(
              `\nconfig: collections.${collection}.store is "${state.configuredStore}" but searches use "${state.active.store}": set it to "${state.active.store}"\n`,
            );
          }
          return;
        }
        if (!options.to)
          throw new Error(
            '--to <store> is required (or one of --status, --rollback, --drop-standby, --abandon)',
          );
        const interrupt = abortOnInterrupt();
        // A collection on the bus is kept current by its consumers: settling waits for them.
        const bus = runtime.collection(collection).definition.config.sync.bus
          ? createEventBus(runtime.config, logger)
          : undefined;
        try {
          const report = await migrateStore(runtime, {
            ...(bus ? { bus } : {}),
            collection,
            to: options.to,
            pageSize: options.pageSize,
            queries: options.queries,
            minOverlap: options.minOverlap,
            verifyFraction: options.verifyFraction,
            cutover: options.cutover,
            force: options.force ?? false,
            keepOnAbort: options.keepOnAbort ?? false,
            signal: interrupt.signal,
            logger,
            onStage: (stage, detail) => process.stderr.write(`[${stage}] ${detail}\n`),
            onProgress: stageProgress(),
          });
          finishBuild(report, { json: options.json ?? false });
        } finally {
          interrupt.dispose();
          await bus?.close();
        }
      });
    });
}
