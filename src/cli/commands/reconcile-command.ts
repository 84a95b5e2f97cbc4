import type { Command } from 'commander';
import type { ReconcileProgress } from '../../reconcile/reconcile-collection.js';
import type { ReconcileReport, RepairAction } from '../../reconcile/reconcile-report.js';
import { Reconciler } from '../../reconcile/reconciler.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';
import { ProgressBar } from '../progress-bar.js';

interface ReconcileCommandOptions {
  collection?: string[];
  tenant?: string;
  fix?: boolean;
  dryRun?: boolean;
  json?: boolean;
  progress: boolean;
}

/** Exit codes: 0 in sync (or every repair made), 2 drift remains, 130 aborted, 1 failed. */
export function registerReconcileCommand(program: Command): void {
  program
    .command('reconcile')
    .description(
      'compare each index with its source: missing, orphaned, stale and unbuildable records (report only unless --fix)',
    )
    .option('-c, --collection <name...>', 'only these collections')
    .option('-t, --tenant <tenant>', "only this tenant's rows and records")
    .option('--fix', 'repair through the version-guarded apply path')
    .option('--dry-run', 'list the repairs --fix would make, without making them')
    .option('--json', 'print the reports as JSON')
    .option('--no-progress', 'no progress bar')
    .action(async (commandOptions: ReconcileCommandOptions) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime) => {
        const names = commandOptions.collection ?? [...runtime.collections.keys()];
        for (const name of names) runtime.collection(name);
        const reconciler = new Reconciler(runtime);
        let interrupted = false;
        const onSigint = () => {
          if (interrupted) process.exit(130);
          interrupted = true;
          process.stderr.write('\naborting after the current page (Ctrl-C again to quit now)…\n');
          reconciler.abort();
        };
        process.on('SIGINT', onSigint);
        const reports: ReconcileReport[] = [];
        try {
          for (const collection of names) {
            if (interrupted) break;
            const bars = new Map<string, ProgressBar>();
            const report = await reconciler.run({
              collection,
              mode: commandOptions.dryRun ? 'dry-run' : commandOptions.fix ? 'fix' : 'report',
              trigger: 'cli',
              ...(commandOptions.tenant !== undefined ? { tenant: commandOptions.tenant } : {}),
              ...(commandOptions.progress
                ? { onProgress: (p: ReconcileProgress) => showProgress(bars, collection, p) }
                : {}),
              ...(commandOptions.dryRun && !commandOptions.json
                ? { onAction: (action: RepairAction) => printAction(collection, action) }
                : {}),
            });
            for (const [phase, bar] of bars) bar.finish(`${collection}: ${phase} done`);
            reports.push(report);
            if (!commandOptions.json) printReport(report);
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
        if (commandOptions.json) printJson(reports);
        process.exitCode = exitCode(reports, interrupted);
      });
    });
}

function showProgress(bars: Map<string, ProgressBar>, collection: string, progress: ReconcileProgress): void {
  const label = { checksums: 'checksums', diff: 'row diff', repair: 'repair' }[progress.phase];
  let bar = bars.get(label);
  if (!bar) {
    bar = new ProgressBar(`${collection}: ${label}`);
    bars.set(label, bar);
  }
  bar.update(progress.done, progress.total ?? progress.done, progress.phase === 'checksums' ? 'rows' : '');
}

function printAction(collection: string, action: RepairAction): void {
  process.stdout.write(
    `would ${action.action} ${collection}/${action.tenant}/${action.id} (${action.kind}, version ${action.version})\n`,
  );
}

function printReport(report: ReconcileReport): void {
  const scope = report.tenant === null ? '' : ` tenant ${report.tenant}`;
  process.stdout.write(
    `\n${report.collection}${scope} → ${report.index.location}: ${report.status}${report.inSync ? ', in sync' : ''} in ${(report.durationMs / 1000).toFixed(1)}s` +
      ` (${report.sourceRows} source rows, ${report.indexRecords} index records; ${report.fastPath.differingGroups} of ${report.fastPath.groups} bucket groups differed)\n`,
  );
  if (report.error) process.stdout.write(`error ${report.error.code}: ${report.error.message}\n`);
  if (report.embedderMismatch) {
    process.stdout.write(
      `the index was built with ${report.embedderMismatch.index} (and was compared with it) but the config names ${report.embedderMismatch.configured}: build the new version beside it with \`vectorsync reembed --collection ${report.collection}\`\n`,
    );
  }
  printTable(
    (['missing', 'orphaned', 'stale', 'unbuildable'] as const).map((kind) => ({
      drift: kind,
      count: report.counts[kind],
      sample: report.samples[kind]
        .map(
          (sample) =>
            `${sample.tenant ?? '?'}/${sample.id}${sample.reason ? ` (${sample.reason})` : sample.code ? ` (${sample.code})` : ''}`,
        )
        .join(', '),
    })),
  );
  if (report.counts.inFlight > 0)
    process.stdout.write(
      `${report.counts.inFlight} difference(s) have an outbox event pending: sync will apply them\n`,
    );
  const { blockedByTombstone, newerThanSource } = report.counts;
  if (blockedByTombstone + newerThanSource > 0)
    process.stdout.write(
      `contradictions the version guard keeps in place: ${blockedByTombstone} row(s) blocked by a tombstone, ${newerThanSource} record(s) newer than their row${report.mode === 'fix' ? '' : ' (--fix overwrites them from the source)'}\n`,
    );
  if (report.repair && report.mode === 'fix') {
    const r = report.repair;
    process.stdout.write(
      `repairs: ${r.planned} planned, ${r.repaired} made (${r.overwritten} over a contradicting tombstone or record), ${r.skipped} skipped (a newer version was already indexed), ${r.failed} failed (${r.queued} queued in the outbox)\n`,
    );
  }
  if (report.repair && report.mode === 'dry-run')
    process.stdout.write(`dry run: ${report.repair.planned} repair(s) would be made\n`);
}

function exitCode(reports: readonly ReconcileReport[], interrupted: boolean): number {
  if (interrupted || reports.some((report) => report.status === 'aborted')) return 130;
  if (reports.some((report) => report.status === 'failed')) return 1;
  const remaining = reports.some((report) =>
    report.mode === 'fix'
      ? (report.repair?.failed ?? 0) > 0 || report.counts.unbuildable > 0
      : !report.inSync,
  );
  return remaining ? 2 : 0;
}
