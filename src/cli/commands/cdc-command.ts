import type { Command } from 'commander';
import { dropSlot, slotInfo } from '../../capture/cdc/cdc-setup.js';
import { readSyncStatus } from '../../status/sync-status.js';
import {
  confirmDestructive,
  type GlobalOptions,
  printJson,
  printTable,
  withRuntime,
} from '../cli-context.js';

export function registerCdcCommand(program: Command): void {
  const cdc = program.command('cdc').description('logical replication capture: slot status and removal');

  cdc
    .command('status')
    .description('replication slot lag in bytes and seconds, retained WAL, consumer, warnings')
    .option('--json', 'print JSON')
    .action(async (commandOptions: { json?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const { cdc: status } = await readSyncStatus(runtime);
        if (commandOptions.json) return printJson(status);
        if (!status) {
          process.stdout.write('no collection uses CDC\n');
          return;
        }
        printTable([
          {
            slot: status.slot,
            exists: status.exists,
            active: status.active,
            'lag bytes': status.lagBytes,
            'lag seconds': status.lagSeconds,
            'retained WAL bytes': status.retainedBytes,
            confirmed: status.confirmedLsn ?? '-',
            'last applied': status.lastAppliedAt ?? '-',
            collections: status.collections,
          },
        ]);
        if (status.warning) process.stdout.write(`\nWARNING: ${status.warning}\n`);
      });
    });

  cdc
    .command('drop-slot')
    .description(
      'drop the replication slot (stops WAL retention); CDC changes made while it is gone are not captured',
    )
    .option('--yes', 'do not ask for confirmation')
    .action(async (commandOptions: { yes?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const slot = runtime.config.cdc.slot;
        const info = await slotInfo(runtime.db, slot);
        if (!info) {
          process.stdout.write(`replication slot "${slot}" does not exist; nothing to do\n`);
          return;
        }
        const cdcCollections = [...runtime.collections.values()]
          .filter((collection) => collection.definition.config.sync.mode === 'cdc')
          .map((collection) => collection.name);
        const consequence =
          cdcCollections.length > 0
            ? `Collections ${cdcCollections.join(', ')} are in CDC mode: changes made until \`vectorsync setup\` creates a new slot are NOT captured, and their indexes must then be rebuilt or reconciled.`
            : 'No collection is in CDC mode; the slot only holds WAL back.';
        await confirmDestructive(
          `Drop replication slot "${slot}" (${info.lagBytes} bytes unconfirmed, ${info.retainedBytes} bytes of WAL retained)? ${consequence}`,
          slot,
          commandOptions.yes ?? false,
        );
        await dropSlot(runtime.db, slot);
        process.stdout.write(`dropped replication slot "${slot}"\n`);
      });
    });
}
