import { ErrorCode, VectorsyncError } from '../errors.js';
import type { BuildStage, IndexBuildReport } from '../index-versions/build-index-version.js';
import type { MigrationState } from '../index-versions/migration-lifecycle.js';
import { printJson, printTable } from './cli-context.js';
import { ProgressBar } from './progress-bar.js';

/** Progress of each stage of an index-version build as its own bar, with rate and ETA. */
export function stageProgress(): (stage: BuildStage, done: number, total: number) => void {
  const bars = new Map<BuildStage, ProgressBar>();
  return (stage, done, total) => {
    let bar = bars.get(stage);
    if (!bar) {
      bar = new ProgressBar(stage);
      bars.set(stage, bar);
    }
    bar.update(done, total);
    if (done >= total) bar.finish(`${stage}: ${done} done`);
  };
}

/** Stops the build at the next page on the first Ctrl-C; a second one exits at once. */
export function abortOnInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = () => {
    process.stderr.write('\naborting at the next page (Ctrl-C again to force)…\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', abort);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', abort) };
}

/**
 * Prints a build's report (a table, or JSON) and fails the command when the version was not
 * verified and not forced, so the exit code says whether the checks passed in either format.
 */
export function finishBuild(report: IndexBuildReport & { next: string }, options: { json: boolean }): void {
  if (options.json) printJson(report);
  else printBuildReport(report);
  if (!report.verified && !report.forced) {
    throw new VectorsyncError(
      ErrorCode.MigrationNotVerified,
      `collection "${report.collection}" was not cut over: ${report.problems.join('; ')}`,
      { details: { problems: report.problems } },
    );
  }
}

export function printBuildReport(report: IndexBuildReport & { next: string }): void {
  const out = (text: string) => process.stdout.write(text);
  out(
    `fill: ${report.fill.done} rows (${report.fill.applied} written, ${report.fill.skipped} already current, ${report.fill.failed} failed)\n`,
  );
  out(
    `completeness: ${report.completeness.compared.source} source rows vs ${report.completeness.compared.index} index records over ${report.completeness.compared.buckets} buckets, ${report.completeness.discrepancies.length} differences\n\nshadow reads (top 10, ${report.from.embedderModel}/${report.from.dimensions} → ${report.to.embedderModel}/${report.to.dimensions}${report.modelChanged ? ': another model, overlap is not a check' : ''}):\n`,
  );
  printTable(
    report.shadow.map((mode) => ({
      mode: mode.mode,
      queries: mode.queries,
      'overlap@10': mode.overlap?.toFixed(3) ?? '-',
      'kendall tau': mode.kendallTau?.toFixed(3) ?? '-',
      spearman: mode.spearman?.toFixed(3) ?? '-',
      note: mode.skipped ?? '',
    })),
  );
  if (report.evaluation) {
    out(
      `\nnDCG@10 on ${report.evaluation.dataset} (${report.evaluation.queries} judged queries, tenant ${report.evaluation.tenant}):\n`,
    );
    printTable(
      report.evaluation.modes.map((mode) => ({
        mode: mode.mode,
        [report.from.location]: mode.from.toFixed(4),
        [report.to.location]: mode.to.toFixed(4),
        change: (mode.to - mode.from >= 0 ? '+' : '') + (mode.to - mode.from).toFixed(4),
      })),
    );
  }
  const verdict = report.verified ? 'verified' : `NOT verified:\n  - ${report.problems.join('\n  - ')}`;
  const cut = report.cutover
    ? `cut over${report.forced ? ' (forced)' : ''}: searches now use ${report.to.location} (${report.to.store}); ${report.from.location} is the standby\n`
    : '';
  out(`\n${verdict}\n${cut}next: ${report.next}\n`);
}

export function printVersions(state: MigrationState): void {
  printTable(
    [state.active, state.standby, ...state.building]
      .filter((record) => record !== undefined)
      .map((record) => ({
        index: record.location,
        store: record.store,
        role:
          record.state === 'active'
            ? 'active (searched)'
            : record.activatedAt
              ? 'standby (in sync)'
              : 'building (in sync)',
        model: `${record.embedderModel}/${record.dimensions}`,
      })),
  );
}
