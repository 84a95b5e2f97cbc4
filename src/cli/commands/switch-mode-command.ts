import type { Command } from 'commander';
import { finishModeSwitch, readCaptureStates } from '../../sync/sync-mode-switch.js';
import { confirmDestructive, type GlobalOptions, printTable, withRuntime } from '../cli-context.js';
import { numberArgument } from '../number-argument.js';

export function registerSwitchModeCommand(program: Command): void {
  const command = program
    .command('switch-mode')
    .description(
      'change a collection’s sync mode without losing a change: edit the config, run `setup` (starts the new capture beside the old), restart workers and services, then `switch-mode finish`',
    );

  command
    .command('status')
    .description(
      'the mode each collection is configured for, recorded in the database, and switches in progress',
    )
    .action(async () => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const states = await readCaptureStates(runtime.db);
        printTable(
          [...runtime.collections.values()].map((collection) => {
            const state = states.get(collection.name);
            return {
              collection: collection.name,
              configured: collection.definition.config.sync.mode,
              recorded: state?.mode ?? '(run setup)',
              switching: state?.switchFrom
                ? `from ${state.switchFrom} since ${state.switchStartedAt?.toISOString()}`
                : '-',
            };
          }),
        );
      });
    });

  command
    .command('finish')
    .description('remove the old capture of a switched collection once everything it captured is applied')
    .requiredOption('-c, --collection <name>', 'collection')
    .option(
      '--timeout <seconds>',
      'how long to wait for the CDC consumer to catch up',
      numberArgument({ min: 0 }),
      600,
    )
    .option('--yes', 'do not ask for confirmation (switching to dual-write)')
    .action(async (commandOptions: { collection: string; timeout: number; yes?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const collection = runtime.collection(commandOptions.collection);
        const state = (await readCaptureStates(runtime.db)).get(collection.name);
        if (state?.switchFrom && collection.definition.config.sync.mode === 'dual-write') {
          await confirmDestructive(
            `After this, only the documents API captures changes to "${collection.name}": direct SQL writes are no longer synced, and every service must already run the new config.`,
            collection.name,
            commandOptions.yes ?? false,
          );
        }
        let lastNote = 0;
        const result = await finishModeSwitch(runtime, collection.name, {
          timeoutMs: commandOptions.timeout * 1000,
          onWaiting: ({ confirmed, needed }) => {
            if (Date.now() - lastNote < 2000) return;
            lastNote = Date.now();
            process.stderr.write(
              `waiting for the CDC consumer: slot at ${confirmed ?? 'nothing'}, need ${needed}\n`,
            );
          },
        });
        if (!result.from) process.stdout.write(`"${collection.name}" is not switching; nothing to do\n`);
        else
          process.stdout.write(
            `"${collection.name}" now runs ${result.to} only (was ${result.from}); removed: ${result.removed.join('; ') || 'nothing'}\n`,
          );
      });
    });
}
