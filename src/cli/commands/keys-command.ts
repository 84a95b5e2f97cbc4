import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../../server/api-keys.js';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys (stored hashed; the key is shown once)');
  keys
    .command('create')
    .description('create a key bound to one tenant, or an admin key for operational endpoints')
    .requiredOption('--name <name>', 'who or what uses the key')
    .option('--tenant <tenant>', 'the tenant this key can read and write')
    .option('--admin', 'an operational key (status, events, metrics); it cannot read tenant data')
    .action(async (commandOptions: { name: string; tenant?: string; admin?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const { key, record } = await createApiKey(runtime.db, {
          name: commandOptions.name,
          tenant: commandOptions.tenant ?? null,
          admin: commandOptions.admin ?? false,
        });
        process.stderr.write(
          `created ${record.admin ? 'admin' : `tenant "${record.tenant}"`} key ${record.prefix} (${record.name}); store it now, it is not shown again:\n`,
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
          tenant: record.tenant,
          admin: record.admin,
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
