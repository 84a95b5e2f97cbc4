import type { Command } from 'commander';
import { assertSourceReachable } from '../../db/connection-failure.js';
import type { Database } from '../../db/database.js';
import { PgDatabase } from '../../db/pg-database.js';
import { PgliteDatabase } from '../../db/pglite-database.js';
import { bootstrapDemo, demoInstructions } from '../../demo/demo-bootstrap.js';
import { assertDemoDatabaseIsFree } from '../../demo/demo-database-check.js';
import { startService } from '../../server/start-service.js';
import { createCliLogger, type GlobalOptions } from '../cli-context.js';
import { numberArgument } from '../number-argument.js';
import { waitForDrain } from '../wait-for-drain.js';
import { untilSignal } from './serve-command.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run the service on embedded Postgres (PGlite + pgvector) with a demo catalog; no server to install',
    )
    .option('--products <n>', 'catalog size', numberArgument({ integer: true, min: 1 }), 3000)
    .option(
      '-p, --port <port>',
      'HTTP port',
      numberArgument({ integer: true, min: 0, max: 65_535 }),
      Number(process.env.PORT ?? 8787),
    )
    .option('--host <host>', 'HTTP host', '127.0.0.1')
    .option('--data-dir <dir>', 'keep the embedded database in this directory (default: in memory)')
    .option('--exit-after-load', 'load, sync, print the instructions and exit (smoke test)')
    .option('--force', 'use DATABASE_URL even though its database already has tables')
    .action(
      async (commandOptions: {
        products: number;
        port: number;
        host: string;
        dataDir?: string;
        exitAfterLoad?: boolean;
        force?: boolean;
      }) => {
        const options = program.opts<GlobalOptions>();
        const logger = createCliLogger(options.logLevel ?? process.env.LOG_LEVEL ?? 'warn');
        const databaseUrl = process.env.DATABASE_URL;
        let db: Database;
        if (databaseUrl) {
          process.stderr.write(`using DATABASE_URL (${new URL(databaseUrl).host})\n`);
          db = PgDatabase.fromUrl(databaseUrl, { max: 10, logger });
          // Unreachable is the one-line SOURCE_UNAVAILABLE naming the target, as for every command.
          await assertSourceReachable(db).catch(async (error) => {
            await db.close();
            throw error;
          });
          if (!commandOptions.force) {
            try {
              await assertDemoDatabaseIsFree(db, { host: new URL(databaseUrl).host });
            } catch (error) {
              await db.close();
              throw error;
            }
          }
        } else {
          process.stderr.write('starting embedded Postgres (PGlite with pgvector)…\n');
          db = await PgliteDatabase.create(commandOptions.dataDir ? { dataDir: commandOptions.dataDir } : {});
        }
        const state = await bootstrapDemo({
          db,
          logger,
          products: commandOptions.products,
          port: commandOptions.port,
          host: commandOptions.host,
          ...(databaseUrl ? { databaseUrl } : {}),
        });
        if (state.loaded > 0)
          process.stderr.write(`loaded ${state.loaded} products; indexing them through the outbox…\n`);
        const indexing = waitForDrain(state.runtime, { label: 'indexing' });
        const service = await startService(state.runtime, logger);
        await indexing;
        process.stdout.write(demoInstructions(service.url, state));
        if (!commandOptions.exitAfterLoad) await untilSignal();
        await service.stop();
        await state.runtime.close();
        await db.close();
      },
    );
}
