import type { Command } from 'commander';
import { migrate } from '../../db/migrator.js';
import { PgDatabase } from '../../db/pg-database.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { createCliLogger, type GlobalOptions, loadConfig } from '../cli-context.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      'apply pending vectorsync schema migrations (idempotent, safe to run from several processes)',
    )
    .action(async () => {
      const options = program.opts<GlobalOptions>();
      const logger = createCliLogger(options.logLevel);
      const databaseUrl = process.env.DATABASE_URL ?? (await loadConfig(options)).databaseUrl;
      if (!databaseUrl)
        throw new VectorsyncError(
          ErrorCode.ConfigInvalid,
          'no database: set DATABASE_URL or databaseUrl in the config',
        );
      const db = PgDatabase.fromUrl(databaseUrl, { max: 1, logger });
      try {
        const result = await migrate(db, logger);
        process.stdout.write(
          result.applied.length === 0
            ? `schema is up to date (migration ${result.current})\n`
            : `applied ${result.applied.map((m) => `${m.id}_${m.name}`).join(', ')}; schema at migration ${result.current}\n`,
        );
      } finally {
        await db.close();
      }
    });
}
