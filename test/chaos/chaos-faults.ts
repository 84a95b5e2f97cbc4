import pg from 'pg';
import type { NatsServer } from '../helpers/nats-server.js';
import type { PostgresCluster } from '../helpers/postgres-cluster.js';
import { waitFor } from '../helpers/wait-for.js';
import type { ChaosProcess } from './chaos-processes.js';
import type { ChaosRandom } from './chaos-random.js';

export type FaultKind =
  | 'kill-worker'
  | 'kill-slot-holder'
  | 'kill-service'
  | 'postgres-restart-fast'
  | 'postgres-restart-immediate'
  | 'store-outage'
  | 'nats-restart'
  | 'synchronous-standby-wait';

export interface FaultContext {
  random: ChaosRandom;
  source: PostgresCluster;
  store: PostgresCluster;
  nats: NatsServer;
  /** The cell's source database (as its own admin session sees it). */
  sourceUrl: string;
  workers: ChaosProcess[];
  service: ChaosProcess | undefined;
  slot: string;
  note: (line: string) => void;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'chaos-faults' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Injects one fault and heals it. Durations are fault parameters (how long a server stays
 * down), drawn from the seed; nothing here waits for a state by sleeping: "mid-batch" is a
 * condition on what the victim holds.
 */
export async function injectFault(kind: FaultKind, context: FaultContext): Promise<void> {
  const { random } = context;
  switch (kind) {
    case 'kill-worker': {
      const victim = random.pick(context.workers.filter((worker) => worker.alive));
      const busy = await holdsWork(context, victim);
      await victim.kill();
      context.note(`SIGKILL ${victim.name}${busy ? ' mid-batch' : ''}`);
      // Writes keep coming while it is down (a burst the survivors and the restart must absorb).
      await pause(random.int(200, 2000));
      await victim.start();
      return;
    }
    case 'kill-slot-holder': {
      // The slot is held once a consumer has started (workers restart after earlier faults).
      const holder = await waitFor(() => slotHolder(context), { timeoutMs: 15_000 }).catch(() => undefined);
      if (!holder) {
        context.note('no process held the slot; killing a worker instead');
        await injectFault('kill-worker', context);
        return;
      }
      await waitFor(async () => (await unappliedChanges(context)) || undefined, { timeoutMs: 3000 }).catch(
        () => undefined,
      );
      await holder.kill();
      context.note(`SIGKILL ${holder.name} (holding the slot)`);
      await pause(random.int(200, 2000));
      await holder.start();
      return;
    }
    case 'kill-service': {
      const service = context.service!;
      await service.kill();
      context.note('SIGKILL the dual-write service');
      await pause(random.int(200, 1500));
      await service.start();
      return;
    }
    case 'postgres-restart-fast':
    case 'postgres-restart-immediate': {
      const mode = kind === 'postgres-restart-fast' ? 'fast' : 'immediate';
      await context.source.stopServer(mode);
      context.note(`source Postgres stopped (${mode})`);
      await pause(random.int(100, 1500));
      await context.source.startServer();
      context.note('source Postgres started');
      return;
    }
    case 'store-outage': {
      await context.store.stopServer('fast');
      context.note('vector Postgres stopped');
      await pause(random.int(500, 3000));
      await context.store.startServer();
      context.note('vector Postgres started');
      return;
    }
    case 'nats-restart': {
      await context.nats.stopServer();
      context.note('NATS stopped');
      await pause(random.int(300, 2000));
      await context.nats.startServer();
      context.note('NATS started');
      return;
    }
    case 'synchronous-standby-wait': {
      await setStandbys(context, 'chaos_nobody');
      context.note('synchronous_standby_names set to a standby that does not exist');
      await pause(random.int(500, 3000));
      const waiting = await query<{ n: number }>(
        context.sourceUrl,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
      );
      context.note(`${waiting[0]?.n ?? 0} writers waiting for the standby`);
      await setStandbys(context, '');
      // The writers still waiting stay committed when their waits are cancelled.
      const cancelled = await query<{ n: number }>(
        context.sourceUrl,
        `SELECT count(pg_cancel_backend(pid))::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
      );
      context.note(`standby waits cancelled: ${cancelled[0]?.n ?? 0}`);
      return;
    }
  }
}

async function setStandbys(context: FaultContext, names: string): Promise<void> {
  await query(context.sourceUrl, `ALTER SYSTEM SET synchronous_standby_names = '${names}'`);
  await query(context.sourceUrl, 'SELECT pg_reload_conf()');
  await waitFor(
    async () =>
      (
        await query<{ value: string }>(context.sourceUrl, 'SELECT current_setting($1) AS value', [
          'synchronous_standby_names',
        ])
      )[0]?.value === names,
    { timeoutMs: 10_000, message: `synchronous_standby_names = '${names}'` },
  );
}

/** Waits (briefly) until the victim holds claimed outbox events: the kill then lands mid-batch. */
async function holdsWork(context: FaultContext, victim: ChaosProcess): Promise<boolean> {
  const pid = victim.pid;
  if (pid === undefined) return false;
  return waitFor(
    async () =>
      (
        await query<{ n: number }>(
          context.sourceUrl,
          `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE status = 'processing' AND locked_by LIKE $1`,
          [`%:${pid}:%`],
        )
      )[0]!.n > 0 || undefined,
    { timeoutMs: 2000, intervalMs: 5 },
  ).then(
    () => true,
    () => false,
  );
}

async function slotHolder(context: FaultContext): Promise<ChaosProcess | undefined> {
  const rows = await query<{ consumer: string | null }>(
    context.sourceUrl,
    'SELECT consumer FROM vectorsync.cdc_progress WHERE slot = $1',
    [context.slot],
  ).catch(() => []);
  const pid = Number(rows[0]?.consumer?.split(':')[1]);
  return context.workers.find((worker) => worker.alive && worker.pid === pid);
}

async function unappliedChanges(context: FaultContext): Promise<boolean> {
  const rows = await query<{ pending: boolean }>(
    context.sourceUrl,
    'SELECT pending_since IS NOT NULL OR applying_lsn IS NOT NULL AS pending FROM vectorsync.cdc_progress WHERE slot = $1',
    [context.slot],
  );
  return rows[0]?.pending ?? false;
}
