import type { Command } from 'commander';
import { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { startService } from '../../server/start-service.js';
import { setupCollections } from '../../sync/setup-collections.js';
import { createCliLogger, embedderProgressBars, type GlobalOptions, loadConfig } from '../cli-context.js';
import { numberArgument } from '../number-argument.js';
import { backfillWork, planSpend, spendOptionHelp } from '../spend-planning.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP service and this process’s sync workers')
    .option('--no-workers', 'serve HTTP only; run workers elsewhere (`vectorsync worker`)')
    .option('--setup', 'run `setup` (capture triggers, indexes, backfill) before serving')
    .option('--yes', spendOptionHelp.yes)
    .option(
      '-p, --port <port>',
      'port (default: config server.port or $PORT)',
      numberArgument({ integer: true, min: 0, max: 65_535 }),
    )
    .option(
      '--metrics-port <port>',
      'also serve GET /metrics without an API key on this port (default: config server.metricsPort)',
      numberArgument({ integer: true, min: 0, max: 65_535 }),
    )
    .action(
      async (commandOptions: {
        workers: boolean;
        setup?: boolean;
        yes?: boolean;
        port?: number;
        metricsPort?: number;
      }) => {
        const options = program.opts<GlobalOptions>();
        const logger = createCliLogger(options.logLevel);
        const config = await loadConfig(options);
        const runtime = await VectorsyncRuntime.open({
          config,
          logger,
          onEmbedderProgress: embedderProgressBars(),
        });
        await runtime.warmUp();
        if (commandOptions.setup) {
          // The backfills setup starts are asked about like `vectorsync setup`'s.
          await planSpend(runtime, backfillWork(runtime), { yes: commandOptions.yes ?? false }, logger);
          await setupCollections(runtime);
        }
        const service = await startService(runtime, logger, {
          runWorkers: commandOptions.workers,
          ...(commandOptions.port !== undefined ? { port: commandOptions.port } : {}),
          ...(commandOptions.metricsPort !== undefined ? { metricsPort: commandOptions.metricsPort } : {}),
        });
        process.stderr.write(`vectorsync listening on ${service.url}\n`);
        if (service.metricsUrl) process.stderr.write(`metrics (no API key) on ${service.metricsUrl}\n`);
        await untilSignal();
        await service.stop();
        await runtime.close();
      },
    );
}

export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const done = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = () => done('SIGINT');
    const onTerm = () => done('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}
