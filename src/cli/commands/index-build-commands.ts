import type { Command } from 'commander';
import { formatDuration } from '../../config/duration.js';
import { ErrorCode, type ErrorCode as ErrorCodeType, VectorsyncError } from '../../errors.js';
import { describeCriteria } from '../../indexops/abort-criteria.js';
import { describeAnnParams } from '../../indexops/ann-params.js';
import { formatBytes } from '../../indexops/build-time-model.js';
import { IndexOperations } from '../../indexops/index-operations.js';
import type { IndexOperation } from '../../indexops/operation-history.js';
import type { IndexOperationRequest, PreparedOperation } from '../../indexops/operation-request.js';
import type { OperationRun } from '../../indexops/operation-run.js';
import { type GlobalOptions, printJson, withRuntime } from '../cli-context.js';
import { IndexProgressBar } from '../index-progress-bar.js';

interface BuildFlags {
  collection: string;
  tenant?: string;
  method?: string;
  m?: string;
  efConstruction?: string;
  lists?: string;
  blocking?: boolean;
  reason?: string;
  deadline?: string;
  minRate?: string;
  json?: boolean;
}

function withBuildOptions(command: Command): Command {
  return command
    .requiredOption('-c, --collection <name>', 'the collection')
    .option('--tenant <tenant>', "a per-tenant partial index (WHERE tenant = …) instead of the collection's")
    .option('--method <method>', 'hnsw (default) or ivfflat')
    .option('--m <n>', 'HNSW graph degree (default: the store config)')
    .option('--ef-construction <n>', 'HNSW build candidate list (default: the store config)')
    .option('--lists <n>', 'IVFFlat lists (default: rows/1000, √rows above a million)')
    .option('--blocking', 'plain CREATE INDEX: blocks writes for the whole build; needs --reason')
    .option('--reason <text>', 'why (required with --blocking; recorded)')
    .option(
      '--deadline <duration>',
      'abort if not done within this, e.g. 30m (default: from the rehearsal, else indexOps.defaultDeadline)',
    )
    .option('--min-rate <rows-per-minute>', 'abort when the build loads fewer rows per minute')
    .option('--json', 'print the recorded operation as JSON');
}

function toRequest(flags: BuildFlags): IndexOperationRequest {
  const number = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed))
      throw new VectorsyncError(ErrorCode.InvalidRequest, `--${name} must be a number (got "${value}")`);
    return parsed;
  };
  const request: IndexOperationRequest = { collection: flags.collection };
  if (flags.tenant !== undefined) request.tenant = flags.tenant;
  if (flags.method !== undefined) request.method = flags.method;
  const m = number(flags.m, 'm');
  const efConstruction = number(flags.efConstruction, 'ef-construction');
  const lists = number(flags.lists, 'lists');
  const minRate = number(flags.minRate, 'min-rate');
  if (m !== undefined) request.m = m;
  if (efConstruction !== undefined) request.efConstruction = efConstruction;
  if (lists !== undefined) request.lists = lists;
  if (minRate !== undefined) request.minRate = minRate;
  if (flags.blocking) request.blocking = true;
  if (flags.reason !== undefined) request.reason = flags.reason;
  if (flags.deadline !== undefined) request.deadline = flags.deadline;
  return request;
}

/** Says what is about to happen (the "paste it into the incident channel" line) and shows progress. */
function attachProgress(bar: IndexProgressBar, verb: string) {
  return (run: OperationRun, plan: PreparedOperation) => {
    const scope = plan.tenant === null ? 'whole collection' : `tenant ${plan.tenant}`;
    bar.message(
      `${verb} #${run.id} on ${run.operation.collection} (${scope}): ${describeAnnParams(plan.params)}, ${plan.concurrent ? 'CONCURRENTLY' : `BLOCKING writes (reason: ${run.operation.reason})`}, ${plan.rows} rows; maintenance_work_mem ${plan.settings.maintenanceWorkMem}, up to ${plan.settings.parallelWorkers} parallel workers`,
    );
    bar.message(`abort criteria: ${describeCriteria(plan.planned.criteria)}`);
    for (const warning of run.warnings) bar.message(`warning ${warning.code}: ${warning.message}`);
    run.on('warning', (warning) => bar.message(`warning ${warning.code}: ${warning.message}`));
    run.on('step', (step) => bar.message(`step: ${step}`));
    run.on('progress', (progress, label) => bar.update(progress, label));
  };
}

/** Prints the outcome; a build that did not succeed exits non-zero with its error code. */
function report(operation: IndexOperation, json: boolean | undefined): void {
  if (json) printJson(operation);
  else {
    const used = operation.settings.used as
      | { maintenanceWorkMem: string; maxParallelMaintenanceWorkers: number; workersLaunched: number }
      | undefined;
    const lines = [
      `operation #${operation.id} ${operation.kind}: ${operation.state} in ${formatDuration(operation.durationMs ?? 0)}${operation.indexName ? ` (index ${operation.indexName})` : ''}`,
    ];
    if (used)
      lines.push(
        `settings used: maintenance_work_mem ${used.maintenanceWorkMem}, max_parallel_maintenance_workers ${used.maxParallelMaintenanceWorkers}, workers launched ${used.workersLaunched}`,
      );
    const result = operation.result;
    const recall = (key: string) => (result[key] as { recall?: number } | undefined)?.recall;
    if (recall('recall') !== undefined) lines.push(`recall@10: ${recall('recall')!.toFixed(3)}`);
    if (recall('recallBefore') !== undefined) {
      const verification = result.verification as { recall?: { recall: number } } | undefined;
      lines.push(
        `recall@10: before ${recall('recallBefore')!.toFixed(3)}, new index on the verification copy ${verification?.recall?.recall.toFixed(3) ?? '-'}, after the swap ${recall('recallAfter')?.toFixed(3) ?? '-'}`,
      );
    }
    if (operation.kind === 'rehearse' && typeof result.predictedSeconds === 'number') {
      const memory = result.memory as
        | { graphBytesEstimate?: number; maintenanceWorkMemBytes?: number }
        | undefined;
      lines.push(`samples: ${JSON.stringify(result.points)}`);
      lines.push(`model: ${result.modelText}`);
      lines.push(
        `prediction for ${result.predictedForRows} rows: ${formatDuration(result.predictedSeconds * 1000)}, index ~${formatBytes(Number(result.predictedIndexBytes ?? 0))}${memory?.graphBytesEstimate ? `, graph ~${formatBytes(memory.graphBytesEstimate)} of maintenance_work_mem ${formatBytes(memory.maintenanceWorkMemBytes ?? 0)}` : ''}`,
      );
    }
    for (const warning of operation.warnings) lines.push(`warning ${warning.code}: ${warning.message}`);
    if (operation.abortReason) lines.push(`abort reason: ${operation.abortReason}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (operation.state !== 'succeeded') {
    throw new VectorsyncError(
      (operation.errorCode as ErrorCodeType | null) ?? ErrorCode.IndexBuildFailed,
      `${operation.kind} #${operation.id} ${operation.state}: ${operation.abortReason ?? operation.error ?? 'see vectorsync index history'}`,
    );
  }
}

export function registerIndexBuildCommands(index: Command, program: Command): void {
  withBuildOptions(index.command('build'))
    .description('build an ANN index for a scope that has none (a tenant, or the collection), CONCURRENTLY')
    .action(async (flags: BuildFlags) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const bar = new IndexProgressBar();
        const operation = await new IndexOperations(runtime, logger).build({
          ...toRequest(flags),
          onStart: attachProgress(bar, 'build'),
        });
        report(operation, flags.json);
      });
    });

  withBuildOptions(index.command('rebuild'))
    .description(
      'blue/green: build the new index beside the old, verify recall, swap (drop the old CONCURRENTLY)',
    )
    .action(async (flags: BuildFlags) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const bar = new IndexProgressBar();
        const operation = await new IndexOperations(runtime, logger).rebuild({
          ...toRequest(flags),
          onStart: attachProgress(bar, 'rebuild'),
        });
        report(operation, flags.json);
      });
    });

  withBuildOptions(index.command('rehearse'))
    .description(
      'build the same index on samples of the current rows, fit time against rows, predict the full build',
    )
    .option('--sizes <n,n,…>', 'sample sizes (default: indexOps.rehearsal.steps sizes up to sampleRows)')
    .option('--sample-rows <n>', 'largest sample (default: indexOps.rehearsal.sampleRows)')
    .action(async (flags: BuildFlags & { sizes?: string; sampleRows?: string }) => {
      await withRuntime(program.opts<GlobalOptions>(), async (runtime, logger) => {
        const bar = new IndexProgressBar();
        const sizes = flags.sizes?.split(',').map((size) => Number(size.trim()));
        const operation = await new IndexOperations(runtime, logger).rehearse({
          ...toRequest(flags),
          ...(sizes ? { sizes } : {}),
          ...(flags.sampleRows ? { sampleRows: Number(flags.sampleRows) } : {}),
          onStart: attachProgress(bar, 'rehearsal'),
        });
        report(operation, flags.json);
      });
    });
}
