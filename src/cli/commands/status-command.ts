import type { Command } from 'commander';
import { formatUsd } from '../../costs/embedding-prices.js';
import type { SpendSummary } from '../../costs/usage-summary.js';
import { readSyncStatus, type WorkStatus } from '../../status/sync-status.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      'sync status per collection: queue depth, oldest pending age, lag of live changes, backfill and repair work, last error; and workers',
    )
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
            // Live changes only: a backfill or repair queued for minutes is not the lag of live writes.
            'live lag p50': formatMs(c.work.live.lag.p50Ms),
            'live lag p95': formatMs(c.work.live.lag.p95Ms),
            backfill: formatWork(c.work.backfill),
            repair: formatWork(c.work.repair),
            index: c.index
              ? `${c.index.location} (${c.index.embedderModel}/${c.index.dimensions})`
              : 'none: run setup',
            'last error': c.lastError ? `${c.lastError.code}: ${c.lastError.message}`.slice(0, 80) : '-',
            'last reconcile': c.lastReconcile
              ? `${c.lastReconcile.finishedAt} ${c.lastReconcile.status}${c.lastReconcile.inSync ? ', in sync' : `, ${c.lastReconcile.counts.missing + c.lastReconcile.counts.orphaned + c.lastReconcile.counts.stale + c.lastReconcile.counts.unbuildable} drifted`}`
              : '-',
            'embedding today': formatSpend(c.spend.today),
            'embedding month': formatSpend(c.spend.month),
          })),
        );
        const budgets = status.collections.flatMap((c) =>
          c.budgets.map((b) => ({
            collection: c.collection,
            scope: b.tenant === '' ? 'collection' : `tenant ${b.tenant}`,
            period: b.period,
            spent: `${formatUsd(b.spentUsd)} of ${formatUsd(b.limitUsd)}`,
            state: b.paused
              ? `PAUSED: ${b.reason}`
              : b.enforced
                ? 'ok'
                : 'not enforced: the embedder is not billed',
          })),
        );
        if (budgets.length > 0) {
          process.stdout.write('\nembedding budgets:\n');
          printTable(budgets);
        }
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

function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10_000 ? `${ms.toFixed(0)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** `1200 open, lag p50 4.2s`: what is left of a kind of work and how long it has been taking. */
function formatWork(work: WorkStatus): string {
  const open = work.pending + work.processing;
  if (open === 0 && work.lag.samples === 0) return '-';
  return `${open} open${work.lag.p50Ms === null ? '' : `, lag p50 ${formatMs(work.lag.p50Ms)}`}`;
}

/** `12,400 tokens, $0.000248 (saved $0.0001, 30 cached)`; '-' when nothing was billed or cached. */
function formatSpend(spend: SpendSummary): string {
  if (spend.tokens === 0 && spend.cachedTexts === 0) return '-';
  const saved =
    spend.cachedTexts > 0 ? ` (${spend.cachedTexts} cached, saved ${formatUsd(spend.savedUsd)})` : '';
  return `${spend.tokens.toLocaleString('en-US')} tokens, ${spend.costUsd === null ? 'cost unknown' : formatUsd(spend.costUsd)}${saved}`;
}
