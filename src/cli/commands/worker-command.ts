import type { Command } from 'commander';
import { OutboxWorker } from '../../sync/outbox-worker.js';
import { type GlobalOptions, withRuntime } from '../cli-context.js';
import { untilSignal } from './serve-command.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run outbox sync workers (any number of processes may run against one database)')
    .option('-c, --collection <name...>', 'only these collections')
    .option('--concurrency <n>', 'parallel batch loops in this process')
    .option('--batch-size <n>', 'events claimed per batch')
    .action(async (commandOptions: { collection?: string[]; concurrency?: string; batchSize?: string }) => {
      const options = program.opts<GlobalOptions>();
      await withRuntime(options, async (runtime, logger) => {
        const worker = new OutboxWorker({
          runtime,
          logger,
          ...(commandOptions.collection ? { collections: commandOptions.collection } : {}),
          sync: {
            ...(commandOptions.concurrency ? { concurrency: Number(commandOptions.concurrency) } : {}),
            ...(commandOptions.batchSize ? { batchSize: Number(commandOptions.batchSize) } : {}),
          },
        });
        worker.on('batch', (report) =>
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
        await worker.start();
        process.stderr.write(`vectorsync worker ${worker.id} running\n`);
        await untilSignal();
        await worker.stop();
      });
    });
}
