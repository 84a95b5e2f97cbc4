import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../../server/api-keys.js';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys (stored hashed; the key is shown once)');
  keys
    .command('create')
    .description(
      'create a key of one kind: bound to one tenant, a service key (any tenant, named per request) or an admin key',
    )
    .requiredOption('--name <name>', 'who or what uses the key')
    .option('--tenant <tenant>', 'a tenant key: reads and writes this tenant only')
    .option(
      '--service',
      'a service key: the data endpoints (documents, search) of the tenant each request names in x-vectorsync-tenant; no operational endpoints',
    )
    .option(
      '--admin',
      'an admin key: the operational endpoints (status, events, reconcile, indexes, metrics), and data endpoints with x-vectorsync-tenant',
    )
    .action(async (commandOptions: { name: string; tenant?: string; service?: boolean; admin?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const { key, record } = await createApiKey(runtime.db, {
          name: commandOptions.name,
          tenant: commandOptions.tenant ?? null,
          service: commandOptions.service ?? false,
          admin: commandOptions.admin ?? false,
        });
        process.stderr.write(
          `created ${record.kind === 'tenant' ? `tenant "${record.tenant}"` : record.kind} key ${record.prefix} (${record.name}); store it now, it is not shown again:\n`,
        );
        process.stdout.write(`${key}\n`);
      });
    });
  keys.command('list').action(async () => {
    await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
      printTable(
        (await listApiKeys(runtime.db)).map((record) => ({
          prefix: record.prefix,
          name: record.name,
          kind: record.kind,
          tenant: record.tenant,
          created: record.createdAt,
          'last used': record.lastUsedAt,
          revoked: record.revokedAt,
        })),
      );
    });
  });
  keys
    .command('revoke <prefix>')
    .description('revoke a key by its prefix (or id)')
    .action(async (prefix: string) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const record = await revokeApiKey(runtime.db, prefix);
        process.stdout.write(`revoked key ${record.prefix} (${record.name}) at ${record.revokedAt}\n`);
      });
    });
}
