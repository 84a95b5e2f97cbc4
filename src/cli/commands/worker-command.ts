import type { Command } from 'commander';
import { SyncWorkers } from '../../sync/sync-workers.js';
import { type GlobalOptions, withRuntime } from '../cli-context.js';
import { numberArgument } from '../number-argument.js';
import { untilSignal } from './serve-command.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'run sync workers: outbox, CDC consumer, event-bus consumer (any number of processes may run against one database)',
    )
    .option('-c, --collection <name...>', 'only these collections')
    .option(
      '--concurrency <n>',
      'parallel batch loops in this process',
      numberArgument({ integer: true, min: 1 }),
    )
    .option('--batch-size <n>', 'events claimed per batch', numberArgument({ integer: true, min: 1 }))
    .action(async (commandOptions: { collection?: string[]; concurrency?: number; batchSize?: number }) => {
      const options = program.opts<GlobalOptions>();
      await withRuntime(options, async (runtime, logger) => {
        const workers = new SyncWorkers(runtime, logger, {
          ...(commandOptions.collection ? { collections: commandOptions.collection } : {}),
          sync: {
            ...(commandOptions.concurrency ? { concurrency: commandOptions.concurrency } : {}),
            ...(commandOptions.batchSize ? { batchSize: commandOptions.batchSize } : {}),
          },
        });
        workers.outbox.on('batch', (report) =>
          logger.debug(
            {
              claimed: report.claimed,
              done: report.done,
              retried: report.retried,
              failed: report.failed,
              ms: Math.round(report.durationMs),
            },
            'batch',
          ),
        );
        for (const collection of runtime.collections.keys()) runtime.activeTarget(collection);
        await runtime.warmUp();
        await workers.start();
        workers.cdc?.on('batch', (report) =>
          logger.debug(
            { transactions: report.transactions, events: report.events, confirmed: report.confirmedLsn },
            'cdc batch',
          ),
        );
        process.stderr.write(
          `vectorsync worker ${workers.outbox.id} running${workers.cdc ? ` (CDC on slot ${runtime.config.cdc.slot})` : ''}\n`,
        );
        await untilSignal();
        await workers.stop();
      });
    });
}
