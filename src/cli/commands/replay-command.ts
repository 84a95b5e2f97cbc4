import type { Command } from 'commander';
import { createEventBus } from '../../bus/create-event-bus.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { replayIndex } from '../../index-versions/replay-version.js';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';
import { abortOnInterrupt } from '../index-version-output.js';
import { ProgressBar } from '../progress-bar.js';

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'rebuild a collection’s index by replaying its change events from the start of the event bus stream, then cut over',
    )
    .requiredOption('-c, --collection <name>', 'collection (must have sync.bus)')
    .option('--no-activate', 'build and verify the new index but keep serving the current one')
    .option(
      '--keep-previous',
      'keep the previous index as the standby after the cut-over (in sync; `reembed --rollback` switches back)',
    )
    .option(
      '--force',
      'go ahead although the stream lost its beginning, and cut over although verification failed',
    )
    .action(
      async (commandOptions: {
        collection: string;
        activate: boolean;
        keepPrevious?: boolean;
        force?: boolean;
      }) => {
        await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
          const bus = createEventBus(runtime.config, logger);
          if (!bus) {
            throw new VectorsyncError(
              ErrorCode.ConfigInvalid,
              'no event bus: configure `bus` and set `sync.bus` on the collection',
            );
          }
          const bar = new ProgressBar(`replay ${commandOptions.collection}`);
          const interrupt = abortOnInterrupt();
          try {
            const result = await replayIndex(runtime, bus, logger, {
              collection: commandOptions.collection,
              activate: commandOptions.activate,
              dropPrevious: !commandOptions.keepPrevious,
              force: commandOptions.force ?? false,
              onProgress: (done, total) => bar.update(done, total, 'events'),
              onStage: (stage, detail) => {
                if (stage !== 'fill') process.stderr.write(`[${stage}] ${detail}\n`);
              },
              signal: interrupt.signal,
            });
            bar.finish(`replayed ${result.replayed} events`);
            printTable([
              {
                index: result.index.location,
                state: result.index.state,
                events: result.replayed,
                'source rows': result.sourceRows,
                'index records': result.indexRecords,
                'shadow overlap@10':
                  result.report.shadow.find((mode) => mode.mode === 'semantic')?.overlap?.toFixed(3) ?? '-',
                retired: result.retired.map((index) => index.location),
              },
            ]);
          } finally {
            interrupt.dispose();
            await bus.close();
          }
        });
      },
    );
}
