import type { Command } from 'commander';
import { formatDuration } from '../../config/duration.js';
import { formatBytes } from '../../indexops/build-time-model.js';
import { IndexOperations } from '../../indexops/index-operations.js';
import type { IndexStatus } from '../../indexops/index-status.js';
import type { CleanupReport } from '../../indexops/interrupted-operations.js';
import { type GlobalOptions, printJson, printTable, withRuntime } from '../cli-context.js';
import { registerIndexBuildCommands } from './index-build-commands.js';

export function registerIndexCommand(program: Command): void {
  const index = program
    .command('index')
    .description(
      'safe ANN index operations: concurrent builds with progress and abort criteria, rehearsal, blue/green rebuilds',
    );
  registerIndexBuildCommands(index, program);

  index
    .command('status')
    .description(
      "a collection's ANN indexes, the running operation's progress, problems; cleans up after crashed operations",
    )
    .requiredOption('-c, --collection <name>', 'the collection')
    .option('--json', 'print JSON')
    .action(async (flags: { collection: string; json?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const ops = new IndexOperations(runtime, logger);
        const status = await ops.status(flags.collection);
        const cleanup = status.supported ? await ops.cleanUp(flags.collection) : undefined;
        const after = cleanup && hasCleanup(cleanup) ? await ops.status(flags.collection) : status;
        if (flags.json) return printJson({ ...after, cleanup });
        if (cleanup) printCleanup(cleanup);
        printStatus(after);
      });
    });

  index
    .command('abort')
    .description('abort the running operation (from any process): cancel its backend, drop its invalid index')
    .requiredOption('-c, --collection <name>', 'the collection')
    .option('--reason <text>', 'recorded with the operation')
    .option('--wait <seconds>', 'how long to wait for the cleanup', '120')
    .action(async (flags: { collection: string; reason?: string; wait: string }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const { operation, honoured } = await new IndexOperations(runtime, logger).abort({
          collection: flags.collection,
          ...(flags.reason ? { reason: flags.reason } : {}),
          waitMs: Number(flags.wait) * 1000,
        });
        if (honoured) {
          process.stdout.write(
            `operation #${operation.id} (${operation.kind}) aborted: ${operation.abortReason}; ${operation.indexName ? `its index ${operation.indexName} was dropped, ` : ''}the index serving searches is untouched\n`,
          );
        } else if (operation.state === 'running') {
          process.stdout.write(
            `abort of operation #${operation.id} requested; it is still ${operation.step} (see \`vectorsync index status -c ${operation.collection}\`)\n`,
          );
        } else {
          process.stdout.write(
            `operation #${operation.id} ended ${operation.state} before the abort took effect (step ${operation.step})\n`,
          );
        }
      });
    });

  index
    .command('history')
    .description('every index operation: who, parameters, rows, duration, outcome, abort reason')
    .option('-c, --collection <name>', 'only this collection')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (flags: { collection?: string; limit: string; json?: boolean }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const operations = await new IndexOperations(runtime, logger).history({
          ...(flags.collection ? { collection: flags.collection } : {}),
          limit: Number(flags.limit),
        });
        if (flags.json) return printJson(operations);
        printTable(
          operations.map((operation) => ({
            id: operation.id,
            collection: operation.collection,
            kind: operation.kind,
            scope: operation.tenant === null ? 'collection' : `tenant ${operation.tenant}`,
            params: `${operation.params.method} ${JSON.stringify({ ...operation.params, method: undefined })}`,
            mode: operation.concurrent ? 'concurrent' : `blocking: ${operation.reason}`,
            by: operation.requestedBy,
            rows: operation.rowsAtStart,
            started: operation.startedAt.toISOString(),
            duration: operation.durationMs === null ? '-' : formatDuration(operation.durationMs),
            outcome: operation.state,
            'abort reason / error': (operation.abortReason ?? operation.error ?? '-').slice(0, 100),
          })),
        );
      });
    });
}

function hasCleanup(cleanup: CleanupReport): boolean {
  return (
    cleanup.recovered.length > 0 || cleanup.droppedIndexes.length > 0 || cleanup.droppedTables.length > 0
  );
}

function printCleanup(cleanup: CleanupReport): void {
  for (const recovered of cleanup.recovered)
    process.stdout.write(
      `cleaned up interrupted operation #${recovered.operation} (${recovered.kind}, now ${recovered.state}): ${recovered.note}\n`,
    );
  for (const name of cleanup.droppedIndexes.filter(
    (name) => !cleanup.recovered.some((recovered) => recovered.droppedIndexes.includes(name)),
  ))
    process.stdout.write(`dropped invalid index ${name} (left by an interrupted build)\n`);
}

function printStatus(status: IndexStatus): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (!status.supported) {
    out(`collection ${status.collection}: ${status.message}`);
    return;
  }
  out(
    `collection ${status.collection}: index version ${status.index?.location ?? 'none'} (table ${status.index?.table ?? '-'}, ~${status.rows ?? '?'} rows), store ${status.store} (${status.storeKind})`,
  );
  printTable(
    status.annIndexes.map((index) => ({
      index: index.name,
      params: index.description,
      scope: index.tenant !== null ? `tenant ${index.tenant}` : (index.predicate ?? 'collection'),
      state: index.state,
      size: formatBytes(index.sizeBytes),
    })),
  );
  const running = status.running;
  if (running) {
    const progress = running.progress;
    out(
      `running: #${running.id} ${running.kind} (${running.params}${running.tenant ? `, tenant ${running.tenant}` : ''}) by ${running.requestedBy} since ${running.startedAt}, step ${running.step}${running.abortRequested ? ', ABORT REQUESTED' : ''}${running.ownerAlive ? '' : ', OWNER NOT HEARTBEATING'}`,
    );
    if (progress) {
      out(
        `  ${(progress.fraction * 100).toFixed(1)}% ${progress.phase}: ${progress.rowsDone}/${progress.rowsTotal} rows, ${progress.rowsPerMinute === null ? '-' : Math.round(progress.rowsPerMinute)} rows/min, eta ${progress.etaSeconds === null ? '?' : formatDuration(progress.etaSeconds * 1000)}, elapsed ${formatDuration(progress.elapsedSeconds * 1000)}${progress.expectedSeconds === null ? '' : `, expected ${formatDuration(progress.expectedSeconds * 1000)}`}${progress.slowerThanPredicted ? ', SLOWER THAN PREDICTED' : ''}`,
      );
    }
    for (const warning of running.warnings) out(`  warning ${warning.code}: ${warning.message}`);
  } else out('running: nothing');
  if (status.last)
    out(
      `last: #${status.last.id} ${status.last.kind} ${status.last.state} (${status.last.params}) in ${formatDuration(status.last.durationMs ?? 0)}, ${status.last.finishedAt}${status.last.abortReason ? `; abort reason: ${status.last.abortReason}` : ''}${status.last.error && !status.last.abortReason ? `; error: ${status.last.error}` : ''}`,
    );
  if (status.rehearsal)
    out(
      `rehearsal: #${status.rehearsal.id} (${status.rehearsal.params}) at ${status.rehearsal.startedAt} on a table of ${status.rehearsal.tableRows} rows, predicted ${status.rehearsal.predictedSeconds === null ? '?' : formatDuration(status.rehearsal.predictedSeconds * 1000)}`,
    );
  for (const problem of status.problems) out(`problem: ${problem}`);
}
