import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServer } from '../helpers/nats-server.js';
import { PostgresCluster } from '../helpers/postgres-cluster.js';
import { type CellResult, type ChaosEnvironment, cellDrift } from './chaos-cell.js';

/**
 * Starts the servers a chaos run owns: a source Postgres (restarted by the faults), a second
 * Postgres for the separate vector database (stopped by the faults) and a NATS server
 * (restarted). Commits are durable (synchronous_commit=on): a Postgres that loses an
 * acknowledged commit in a crash would make the source itself, not sync, the liar.
 */
export async function startChaosEnvironment(): Promise<ChaosEnvironment> {
  const settings = {
    synchronous_commit: 'on',
    max_connections: 400,
    max_wal_senders: 40,
    max_replication_slots: 40,
  };
  const [source, store, nats] = await Promise.all([
    PostgresCluster.start({ settings }),
    PostgresCluster.start({ settings }),
    NatsServer.start(),
  ]);
  const workDir = await mkdtemp(join(tmpdir(), 'vectorsync-chaos-'));
  return { source, store, nats, workDir };
}

export async function stopChaosEnvironment(env: ChaosEnvironment): Promise<void> {
  await Promise.all([env.source.destroy(), env.store.destroy(), env.nats.destroy()]);
  if (!process.env.CHAOS_KEEP) await rm(env.workDir, { recursive: true, force: true });
}

/** The results as a table: one row per cell and seed; drift of any kind fails the run. */
export function resultTable(results: readonly CellResult[]): string {
  const header =
    '| mode | store | seed | committed | faults | source rows | records | missing | orphaned | stale | duplicated | keyword index | failed (unexpected) | reconcile agrees | s |';
  const rule = `|${header
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`;
  const rows = results.map((result) => {
    const check = result.check;
    const agrees =
      'error' in result.reconcile ? `no (${result.reconcile.error})` : result.reconcile.inSync ? 'yes' : 'NO';
    return `| ${result.cell.mode} | ${result.cell.placement} | ${result.seed} | ${result.workload.committed} | ${
      result.faults.filter((line) => !/set up|workload stopped|quiescent|open events/.test(line)).length
    } | ${check.sourceRows} | ${check.records} | ${check.missing} | ${check.orphaned} | ${check.stale} | ${check.duplicated} | ${check.keywordIndex} | ${result.unexpectedFailures.length} | ${agrees}${result.error ? ' (cell error)' : ''} | ${(result.durationMs / 1000).toFixed(0)} |`;
  });
  return [header, rule, ...rows].join('\n');
}

/** Everything needed to understand and replay a failed cell. */
export function failureDetails(result: CellResult): string {
  if (cellDrift(result) === 0) return '';
  return [
    `## ${result.cell.mode}/${result.cell.placement}, seed ${result.seed} (${result.scale})`,
    `replay: npm run chaos -- --scale ${result.scale} --seed ${result.seed} --mode ${result.cell.mode} --placement ${result.cell.placement}`,
    'timeline:',
    ...result.faults.map((line) => `  ${line}`),
    ...(result.check.samples.length > 0
      ? ['drift:', ...result.check.samples.map((line) => `  ${line}`)]
      : []),
    ...(result.unexpectedFailures.length > 0
      ? ['failed events:', ...result.unexpectedFailures.map((line) => `  ${line}`)]
      : []),
    ...('error' in result.reconcile
      ? [`reconcile: ${result.reconcile.error}`]
      : result.reconcile.inSync
        ? []
        : [`reconcile disagrees: ${JSON.stringify(result.reconcile.counts)}`]),
    ...(result.error ? [`error: ${result.error}`] : []),
  ].join('\n');
}
