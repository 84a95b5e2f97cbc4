import type { Command } from 'commander';
import { listOutboxEvents, retryFailedEvents } from '../../outbox/outbox-admin.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';
import { numberArgument } from '../number-argument.js';

export function registerEventsCommand(program: Command): void {
  const events = program.command('events').description('inspect and retry outbox events');
  events
    .command('list')
    .description('list events, newest first')
    .option('-s, --status <status>', 'pending, processing, done or failed')
    .option('-c, --collection <name>')
    .option('-n, --limit <n>', 'how many', numberArgument({ integer: true, min: 1, max: 10_000 }), 50)
    .option('--json', 'print JSON')
    .action(
      async (commandOptions: { status?: string; collection?: string; limit: number; json?: boolean }) => {
        await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
          if (commandOptions.collection) runtime.collection(commandOptions.collection);
          const rows = await listOutboxEvents(runtime.db, {
            ...(commandOptions.status ? { status: commandOptions.status } : {}),
            ...(commandOptions.collection ? { collection: commandOptions.collection } : {}),
            limit: commandOptions.limit,
          });
          if (commandOptions.json) return printJson(rows);
          printTable(
            rows.map((row) => ({
              id: row.id,
              collection: row.collection,
              tenant: row.tenant,
              'source id': row.sourceId,
              op: row.op,
              status: row.status,
              attempts: row.attempts,
              error: row.lastError ? `${row.lastErrorCode}: ${row.lastError}`.slice(0, 100) : '-',
            })),
          );
        });
      },
    );
  events
    .command('retry')
    .description('put failed events back in the queue with fresh attempts')
    .option('--id <id...>', 'these event ids')
    .option('-c, --collection <name>', 'every failed event of this collection')
    .option('--all', 'every failed event')
    .action(async (commandOptions: { id?: string[]; collection?: string; all?: boolean }) => {
      if (!commandOptions.id && !commandOptions.collection && !commandOptions.all) {
        throw new Error('say which events: --id <id...>, --collection <name> or --all');
      }
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        if (commandOptions.collection) runtime.collection(commandOptions.collection);
        const result = await retryFailedEvents(
          runtime.db,
          commandOptions.id
            ? { ids: commandOptions.id }
            : commandOptions.collection
              ? { collection: commandOptions.collection }
              : {},
        );
        process.stdout.write(
          `retrying ${result.retried.length} event(s)${result.retried.length ? `: ${result.retried.join(', ')}` : ''}\n`,
        );
      });
    });
}
