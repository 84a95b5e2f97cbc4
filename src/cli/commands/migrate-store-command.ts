import type { Command } from 'commander';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import {
  abandonBuild,
  dropStandby,
  migrationState,
  rollbackStoreMigration,
} from '../../index-versions/migration-lifecycle.js';
import { type MigrationStage, migrateStore } from '../../index-versions/store-migration.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';
import { ProgressBar } from '../progress-bar.js';

interface MigrateStoreOptions {
  collection: string;
  to?: string;
  pageSize: string;
  queries: string;
  minOverlap: string;
  verifyFraction: string;
  cutover: boolean;
  keepOnAbort?: boolean;
  rollback?: boolean;
  dropStandby?: boolean;
  abandon?: boolean;
  status?: boolean;
  json?: boolean;
}

export function registerMigrateStoreCommand(program: Command): void {
  program
    .command('migrate-store')
    .description(
      'move a collection to another store: build from Postgres beside the live index, verify, cut over atomically; roll back by switching back',
    )
    .requiredOption('-c, --collection <name>', 'the collection')
    .option('--to <store>', 'target store (a key of `stores` in the config)')
    .option('--page-size <n>', 'source rows per fill page', '500')
    .option('--queries <n>', 'shadow-read queries generated from the corpus', '50')
    .option('--min-overlap <x>', 'cut over only if semantic overlap@10 is at least this', '0.8')
    .option('--verify-fraction <f>', 'share of the id space compared id by id (0–1]', '1')
    .option('--no-cutover', 'verify and keep the new index in sync, but do not switch searches to it')
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
          if (options.rollback) await rollbackStoreMigration(runtime, collection);
          if (options.dropStandby) await dropStandby(runtime, collection, logger);
          if (options.abandon) await abandonBuild(runtime, collection, logger);
          const state = await migrationState(runtime, collection);
          if (options.json) return printJson(state);
          printTable(
            [state.active, state.standby, ...state.building]
              .filter((record) => record !== undefined)
              .map((record) => ({
                index: record.location,
                store: record.store,
                role:
                  record.state === 'active'
                    ? 'active (searched)'
                    : record.activatedAt
                      ? 'standby (in sync)'
                      : 'building (in sync)',
                model: `${record.embedderModel}/${record.dimensions}`,
              })),
          );
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
        const controller = new AbortController();
        const abort = () => {
          process.stderr.write('\naborting at the next page (Ctrl-C again to force)…\n');
          controller.abort();
          process.once('SIGINT', () => process.exit(130));
        };
        process.once('SIGINT', abort);
        const bars = new Map<MigrationStage, ProgressBar>();
        try {
          const report = await migrateStore(runtime, {
            collection,
            to: options.to,
            pageSize: Number(options.pageSize),
            queries: Number(options.queries),
            minOverlap: Number(options.minOverlap),
            verifyFraction: Number(options.verifyFraction),
            cutover: options.cutover,
            keepOnAbort: options.keepOnAbort ?? false,
            signal: controller.signal,
            logger,
            onStage: (stage, detail) => process.stderr.write(`[${stage}] ${detail}\n`),
            onProgress: (stage, done, total) => {
              let bar = bars.get(stage);
              if (!bar) {
                bar = new ProgressBar(stage);
                bars.set(stage, bar);
              }
              bar.update(done, total);
              if (done >= total) bar.finish(`${stage}: ${done} done`);
            },
          });
          if (options.json) return printJson(report);
          process.stdout.write(
            `fill: ${report.fill.done} rows (${report.fill.applied} written, ${report.fill.skipped} already current, ${report.fill.failed} failed)\n`,
          );
          process.stdout.write(
            `completeness: ${report.completeness.compared.source} source rows vs ${report.completeness.compared.index} index records over ${report.completeness.compared.buckets} buckets, ${report.completeness.discrepancies.length} differences\n\nshadow reads (top 10):\n`,
          );
          printTable(
            report.shadow.map((mode) => ({
              mode: mode.mode,
              queries: mode.queries,
              'overlap@10': mode.overlap?.toFixed(3) ?? '-',
              'kendall tau': mode.kendallTau?.toFixed(3) ?? '-',
              spearman: mode.spearman?.toFixed(3) ?? '-',
              note: mode.skipped ?? '',
            })),
          );
          process.stdout.write(
            `\n${report.verified ? 'verified' : `NOT verified:\n  - ${report.problems.join('\n  - ')}`}\n${report.cutover ? `cut over: searches now use ${report.to.location} (${report.to.store}); ${report.from.location} is the standby\n` : ''}next: ${report.next}\n`,
          );
          if (!report.verified) {
            throw new VectorsyncError(
              ErrorCode.MigrationNotVerified,
              `collection "${collection}" was not cut over: ${report.problems.join('; ')}`,
              {
                details: { problems: report.problems },
              },
            );
          }
        } finally {
          process.removeListener('SIGINT', abort);
        }
      });
    });
}
