import type { Command } from 'commander';
import { readSyncStatus } from '../../sync/sync-status.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('sync status per collection: queue depth, oldest pending age, lag, last error; and workers')
    .option('--json', 'print JSON')
    .action(async (commandOptions: { json?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const status = await readSyncStatus(runtime);
        if (commandOptions.json) return printJson(status);
        printTable(
          status.collections.map((c) => ({
            collection: c.collection,
            mode: c.switching ? `${c.mode} (switching from ${c.switching.from})` : c.mode,
            pending: c.pending,
            processing: c.processing,
            failed: c.failed,
            'oldest pending': `${c.oldestPendingSeconds.toFixed(1)}s`,
            'lag p50': c.lag.p50Ms === null ? '-' : `${c.lag.p50Ms.toFixed(0)}ms`,
            'lag p95': c.lag.p95Ms === null ? '-' : `${c.lag.p95Ms.toFixed(0)}ms`,
            index: c.index
              ? `${c.index.location} (${c.index.embedderModel}/${c.index.dimensions})`
              : 'none: run setup',
            'last error': c.lastError ? `${c.lastError.code}: ${c.lastError.message}`.slice(0, 80) : '-',
            'last reconcile': c.lastReconcile
              ? `${c.lastReconcile.finishedAt} ${c.lastReconcile.status}${c.lastReconcile.inSync ? ', in sync' : `, ${c.lastReconcile.counts.missing + c.lastReconcile.counts.orphaned + c.lastReconcile.counts.stale + c.lastReconcile.counts.unbuildable} drifted`}`
              : '-',
          })),
        );
        process.stdout.write('\nworkers:\n');
        printTable(
          status.workers.map((w) => ({
            id: w.id,
            alive: w.alive,
            'heartbeat age': `${w.heartbeatAgeSeconds.toFixed(1)}s`,
            collections: w.collections,
          })),
        );
        if (status.cdc) {
          const cdc = status.cdc;
          process.stdout.write(
            `\nCDC slot ${cdc.slot}: ${cdc.exists ? (cdc.active ? 'streaming' : 'no consumer connected') : 'missing'}, lag ${cdc.lagBytes} bytes / ${cdc.lagSeconds.toFixed(1)} s, WAL retained ${cdc.retainedBytes} bytes\n`,
          );
          if (cdc.warning) process.stdout.write(`WARNING: ${cdc.warning}\n`);
        }
      });
    });
}
