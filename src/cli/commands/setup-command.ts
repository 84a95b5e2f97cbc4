import type { Command } from 'commander';
import { migrate } from '../../db/migrator.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { setupCollections } from '../../sync/setup-collections.js';
import { readSyncStatus } from '../../sync/sync-status.js';
import { type GlobalOptions, printTable, withRuntime } from '../cli-context.js';
import { ProgressBar } from '../progress-bar.js';

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description(
      'migrate, install capture triggers, create indexes and backfill new ones from the source (idempotent)',
    )
    .option('-c, --collection <name...>', 'only these collections')
    .option(
      '--rebuild',
      'build a new index version from the source, replacing the current one (e.g. after changing the embedder)',
    )
    .option('--wait', 'wait for the backfill to be applied (needs a running worker, or use `serve`)')
    .action(async (commandOptions: { collection?: string[]; rebuild?: boolean; wait?: boolean }) => {
      const options = program.opts<GlobalOptions>();
      await withRuntime(
        options,
        async (runtime, logger) => {
          await migrate(runtime.db, logger);
          await runtime.refreshIndexes();
          const results = await setupCollections(runtime, {
            ...(commandOptions.collection ? { collections: commandOptions.collection } : {}),
            rebuild: commandOptions.rebuild ?? false,
          });
          printTable(
            results.map((result) => ({
              collection: result.collection,
              index: result.index.location,
              model: `${result.index.embedderModel}/${result.index.dimensions}`,
              created: result.createdIndex,
              backfill: result.backfilled,
              retired: result.retiredIndexes.map((index) => index.location),
            })),
          );
          if (commandOptions.wait) await waitForDrain(runtime);
        },
        { skipMigrationCheck: true },
      );
    });
}

/** Shows progress until every event is applied: done since start over done since start plus open. */
export async function waitForDrain(runtime: VectorsyncRuntime, label = 'sync'): Promise<void> {
  const bar = new ProgressBar(label);
  const started = await runtime.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  const since = started.rows[0]!.now;
  for (;;) {
    const status = await readSyncStatus(runtime);
    const open = status.collections.reduce((sum, c) => sum + c.pending + c.processing, 0);
    const failed = status.collections.reduce((sum, c) => sum + c.failed, 0);
    const doneResult = await runtime.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE status = 'done' AND processed_at >= $1`,
      [since],
    );
    const done = doneResult.rows[0]!.n;
    bar.update(done, done + open, failed > 0 ? `(${failed} failed)` : '');
    if (open === 0) {
      bar.finish(
        `${label}: ${done} event(s) applied${failed > 0 ? `, ${failed} failed (see \`vectorsync events list --status failed\`)` : ''}`,
      );
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
