import type { Command } from 'commander';
import { createEventBus } from '../../bus/create-event-bus.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { loadJudgedQueries } from '../../index-versions/judged-evaluation.js';
import {
  abortBuild,
  migrationState,
  retireStandby,
  rollbackToStandby,
} from '../../index-versions/migration-lifecycle.js';
import { reembed } from '../../index-versions/reembed.js';
import { addBuildCheckOptions, type BuildCheckOptions } from '../build-check-options.js';
import { type GlobalOptions, printJson, withRuntime } from '../cli-context.js';
import { abortOnInterrupt, finishBuild, printVersions, stageProgress } from '../index-version-output.js';
import { numberArgument } from '../number-argument.js';
import { planSpend, type SpendOptions, spendOptionHelp } from '../spend-planning.js';

interface ReembedCommandOptions extends BuildCheckOptions, SpendOptions {
  collection: string;
  eval?: string;
  evalTenant?: string;
  maxNdcgDrop: number;
  cutover: boolean;
  force?: boolean;
  keepOnAbort?: boolean;
  rollback?: boolean;
  retire?: boolean;
  abort?: boolean;
  status?: boolean;
  json?: boolean;
}

export function registerReembedCommand(program: Command): void {
  addBuildCheckOptions(
    program
      .command('reembed')
      .description(
        'build a new index version with the configured embedder (or analyzer, or index settings) beside the one serving, verify it, cut over; searches keep full results throughout',
      )
      .requiredOption('-c, --collection <name>', 'the collection')
      .option(
        '--eval <dir>',
        'judged queries about this collection (queries.jsonl.gz and qrels.tsv.gz whose document ids are source ids): report nDCG@10 of both versions',
      )
      .option('--eval-tenant <tenant>', 'the tenant the judged queries search (required with --eval)')
      .option(
        '--max-ndcg-drop <x>',
        'with --eval: cut over only if nDCG@10 drops by at most this',
        numberArgument({ min: 0, max: 1 }),
        0.02,
      ),
    'with the same model (new analyzer or index settings): cut over only if semantic overlap@10 is at least this',
  )
    .option(
      '--no-cutover',
      'build and verify, keep the new version in sync, but do not switch searches to it',
    )
    .option('--force', 'cut over even though a check did not pass (the problems are still printed)')
    .option('--keep-on-abort', 'keep the half-built version when aborted (default: drop it)')
    .option('--rollback', 'switch searches back to the standby (the version before the last cut-over)')
    .option('--retire', 'stop writing the standby and drop it (after the config names the active version)')
    .option('--abort', 'drop a version that was built (or half built) but never cut over to')
    .option('--status', 'show the active, standby and building versions')
    .option('--json', 'print the report as JSON')
    .option('--dry-run', spendOptionHelp.dryRun)
    .option('--yes', spendOptionHelp.yes)
    .option('--batch', spendOptionHelp.batch)
    .action(async (options: ReembedCommandOptions) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const collection = options.collection;
        if (options.status || options.rollback || options.retire || options.abort) {
          if (options.rollback) await rollbackToStandby(runtime, collection);
          if (options.retire) await retireStandby(runtime, collection, logger);
          if (options.abort) await abortBuild(runtime, collection, logger);
          const state = await migrationState(runtime, collection);
          if (options.json) return printJson(state);
          printVersions(state);
          if (!state.embedderMatches) {
            const configured = runtime.collection(collection).embedder;
            process.stdout.write(
              `\nconfig: names ${configured.modelId}/${configured.dimensions} but searches use ${state.active.embedderModel}/${state.active.dimensions}: run \`vectorsync reembed --collection ${collection}\`, or restore the config of the active version\n`,
            );
          }
          return;
        }
        if (options.eval && !options.evalTenant)
          throw new VectorsyncError(
            ErrorCode.InvalidRequest,
            '--eval needs --eval-tenant <tenant>: the tenant whose rows the queries are judged against',
          );
        const judged = options.eval ? await loadJudgedQueries(options.eval) : undefined;
        // The new version is built with the configured embedder: that is what would be paid for.
        const configured = runtime.collection(collection);
        if (!(await planSpend(runtime, [{ collection, profile: configured.embedding }], options, logger)))
          return;
        const interrupt = abortOnInterrupt();
        // A collection on the bus is kept current by its consumers: settling waits for them.
        const bus = runtime.collection(collection).definition.config.sync.bus
          ? createEventBus(runtime.config, logger)
          : undefined;
        try {
          const report = await reembed(runtime, {
            ...(bus ? { bus } : {}),
            collection,
            pageSize: options.pageSize,
            queries: options.queries,
            minOverlap: options.minOverlap,
            verifyFraction: options.verifyFraction,
            cutover: options.cutover,
            force: options.force ?? false,
            keepOnAbort: options.keepOnAbort ?? false,
            ...(judged
              ? {
                  evaluation: {
                    judged,
                    tenant: options.evalTenant!,
                    maxNdcgDrop: options.maxNdcgDrop,
                  },
                }
              : {}),
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
