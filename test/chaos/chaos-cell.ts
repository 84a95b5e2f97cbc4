import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { slotInfo } from '../../src/capture/cdc/cdc-setup.js';
import { parseLsn } from '../../src/capture/cdc/lsn.js';
import type { ConfigInput } from '../../src/config/config-schema.js';
import { parseConfig } from '../../src/config/resolve-config.js';
import { migrate } from '../../src/db/migrator.js';
import { PgDatabase } from '../../src/db/pg-database.js';
import { reconcileCollection } from '../../src/reconcile/reconcile-collection.js';
import { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../../src/server/api-keys.js';
import { setupCollections } from '../../src/sync/setup-collections.js';
import type { NatsServer } from '../helpers/nats-server.js';
import { freePort, type PostgresCluster } from '../helpers/postgres-cluster.js';
import { waitFor } from '../helpers/wait-for.js';
import { ApiWorkload } from './chaos-api-workload.js';
import { compareWithSource, type DriftCheck, driftTotal, expectedDocuments } from './chaos-check.js';
import { type FaultKind, injectFault } from './chaos-faults.js';
import { ChaosProcess } from './chaos-processes.js';
import { ChaosRandom } from './chaos-random.js';
import {
  lancedbDuplicateIds,
  pgvectorKeywordIndexProblems,
  readLancedbRecords,
  readPgvectorRecords,
} from './chaos-store-reader.js';
import { ITEMS_TABLE_SQL, SqlWorkload, type WorkloadStats } from './chaos-workload.js';

export const MODES = ['outbox', 'cdc', 'dual-write', 'outbox+bus', 'cdc+bus'] as const;
export const PLACEMENTS = ['pgvector-same', 'pgvector-separate', 'lancedb'] as const;
export type ChaosMode = (typeof MODES)[number];
export type ChaosPlacement = (typeof PLACEMENTS)[number];

export interface ChaosCell {
  mode: ChaosMode;
  placement: ChaosPlacement;
}

export interface ChaosScale {
  name: string;
  /** Rows before setup (they reach the index through the backfill). */
  seedRows: number;
  sessions: number;
  workers: number;
  /** How many of each applicable fault, in a seeded order, while the workload runs. */
  faultsPerKind: number;
  /**
   * At most this many faults per cell (0: all): the cell's own faults first (a slot holder
   * killed in CDC, NATS restarted with the bus, the vector database stopped when it is
   * separate, the service killed in dual-write), then a seeded sample of the others.
   */
  maxFaults: number;
  /** Workload time around the faults (before the first, between them, after the last). */
  gapMs: [number, number];
  bulkMax: number;
  toastChance: number;
  /** Pause of each session between two transactions (the write rate). */
  pauseMs: number;
  /**
   * Committed changes the workload must add after each fault before the next one: a run whose
   * workload cannot write (a service that refuses everything, a fault window it never leaves)
   * proves nothing, so it fails instead of passing empty.
   */
  progressPerStep: number;
  progressTimeoutMs: number;
  quiesceTimeoutMs: number;
}

export const SCALES: Record<'reduced' | 'full', ChaosScale> = {
  reduced: {
    name: 'reduced',
    seedRows: 60,
    sessions: 3,
    workers: 2,
    faultsPerKind: 1,
    maxFaults: 4,
    gapMs: [200, 800],
    bulkMax: 30,
    toastChance: 0.03,
    pauseMs: 20,
    progressPerStep: 5,
    progressTimeoutMs: 120_000,
    quiesceTimeoutMs: 120_000,
  },
  full: {
    name: 'full',
    seedRows: 400,
    sessions: 4,
    workers: 3,
    faultsPerKind: 3,
    maxFaults: 0,
    gapMs: [500, 3000],
    bulkMax: 200,
    toastChance: 0.05,
    pauseMs: 5,
    progressPerStep: 25,
    progressTimeoutMs: 300_000,
    quiesceTimeoutMs: 600_000,
  },
};

/** The servers one chaos run uses: its own, because it restarts and stops them. */
export interface ChaosEnvironment {
  source: PostgresCluster;
  store: PostgresCluster;
  nats: NatsServer;
  workDir: string;
}

export interface CellResult {
  cell: ChaosCell;
  seed: number;
  scale: string;
  workload: WorkloadStats;
  faults: string[];
  check: DriftCheck;
  /** Failed events other than rows that cannot be indexed: changes set aside, which is drift too. */
  unexpectedFailures: string[];
  reconcile: { inSync: boolean; counts: Record<string, number> } | { error: string };
  durationMs: number;
  /** Set when the cell could not reach quiescence or crashed: the diagnosis. */
  error?: string;
}

export function cellDrift(result: CellResult): number {
  const reconcileDisagrees = 'error' in result.reconcile || !result.reconcile.inSync ? 1 : 0;
  return (
    driftTotal(result.check) + result.unexpectedFailures.length + reconcileDisagrees + (result.error ? 1 : 0)
  );
}

export function faultsFor(cell: ChaosCell): FaultKind[] {
  const kinds: FaultKind[] = ['postgres-restart-fast', 'postgres-restart-immediate'];
  if (cell.mode === 'dual-write') kinds.push('kill-service', 'kill-worker');
  else kinds.push('kill-worker', 'synchronous-standby-wait');
  if (cell.mode.startsWith('cdc')) kinds.push('kill-slot-holder');
  if (cell.mode.endsWith('+bus')) kinds.push('nats-restart');
  if (cell.placement === 'pgvector-separate') kinds.push('store-outage');
  return kinds;
}

/** The faults that only some cells have: a reduced run never leaves them out. */
const OWN_FAULTS: readonly FaultKind[] = ['kill-slot-holder', 'nats-restart', 'store-outage', 'kill-service'];

const cellName = (cell: ChaosCell) => `${cell.mode}/${cell.placement}`;
const LOCAL_COMMIT = `options=${encodeURIComponent('-c synchronous_commit=local')}`;

/**
 * One cell of the matrix: a fresh database, vectorsync set up in the cell's sync mode and store
 * placement, worker processes, a seeded workload with faults injected while it runs; then every
 * fault healed, sync left to go idle, and the index compared with the source by the suite's own
 * reads, and by reconciliation.
 */
export async function runCell(
  env: ChaosEnvironment,
  cell: ChaosCell,
  seed: number,
  scale: ChaosScale,
  onNote: (line: string) => void = () => undefined,
): Promise<CellResult> {
  const started = Date.now();
  const random = new ChaosRandom(seed);
  const database = `chaos_${cell.mode.replace('+', '_').replace('-', '_')}_${cell.placement.replace('-', '_')}_${seed}`;
  const cellDir = await mkdtemp(join(env.workDir, `${database}-`));
  const faults: string[] = [];
  const note = (line: string) => {
    const stamped = `${((Date.now() - started) / 1000).toFixed(1)}s ${line}`;
    faults.push(stamped);
    onNote(`[${cellName(cell)} seed ${seed}] ${stamped}`);
  };
  await createDatabase(env.source, database);
  if (cell.placement === 'pgvector-separate') await createDatabase(env.store, database);
  const adminUrl = env.source.url(database);
  const admin = PgDatabase.fromUrl(adminUrl, { max: 3, applicationName: 'chaos-check' });
  const servicePort = await freePort();
  const config = cellConfig(env, cell, database, cellDir, servicePort);
  const workers = Array.from(
    { length: scale.workers },
    (_, i) => new ChaosProcess(`worker ${i + 1}`, config, ['worker']),
  );
  const service =
    cell.mode === 'dual-write'
      ? new ChaosProcess('service', config, ['serve', '--port', String(servicePort)])
      : undefined;
  let runtime: VectorsyncRuntime | undefined;
  let workloadStats: WorkloadStats = { committed: 0, rolledBack: 0, errors: 0, byAction: {} };
  const result: Omit<CellResult, 'check' | 'unexpectedFailures' | 'reconcile'> = {
    cell,
    seed,
    scale: scale.name,
    workload: workloadStats,
    faults,
    durationMs: 0,
  };
  try {
    await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
    await migrate(admin);
    await admin.query(ITEMS_TABLE_SQL);
    await seedRows(admin, random, scale.seedRows);
    runtime = await VectorsyncRuntime.open({ config: parseConfig(config) });
    await setupCollections(runtime);
    note(`set up (${scale.seedRows} rows to backfill)`);
    for (const worker of workers) await worker.start();
    await service?.start();

    const workloadUrl = `${adminUrl}?options=${encodeURIComponent('-c synchronous_commit=on')}`;
    const workload =
      cell.mode === 'dual-write'
        ? new ApiWorkload(`http://127.0.0.1:${servicePort}`, await tenantKeys(admin), random.fork(7), {
            sessions: scale.sessions,
            toastChance: scale.toastChance,
            pauseMs: scale.pauseMs,
            logPath: join(cellDir, 'workload.jsonl'),
          })
        : new SqlWorkload(workloadUrl, random.fork(7), {
            sessions: scale.sessions,
            bulkMax: scale.bulkMax,
            toastChance: scale.toastChance,
            pauseMs: scale.pauseMs,
            logPath: join(cellDir, 'workload.jsonl'),
          });
    if (service) await waitForHttp(servicePort, service);
    workload.start();

    const schedule = faultSchedule(cell, random, scale);
    const context = {
      random: random.fork(11),
      source: env.source,
      store: env.store,
      nats: env.nats,
      sourceUrl: adminUrl,
      workers,
      service,
      slot: config.cdc!.slot!,
      note,
    };
    const progress = async (after: string) => {
      const target = workload.stats.committed + scale.progressPerStep;
      await waitFor(() => workload.stats.committed >= target, {
        timeoutMs: scale.progressTimeoutMs,
        message: () =>
          `the workload to commit ${scale.progressPerStep} more changes after ${after} (${workload.stats.committed} so far, ${workload.stats.errors} errors; ${workload instanceof ApiWorkload ? `first error: ${workload.firstError}` : ''})`,
      });
    };
    await progress('the start');
    for (const step of schedule) {
      await gap(random, scale);
      if (step === 'truncate' && workload instanceof SqlWorkload) {
        await workload
          .statement('truncate', `TRUNCATE items${cell.placement === 'pgvector-same' ? ' CASCADE' : ''}`)
          .then(() => note('TRUNCATE items'))
          .catch((error: Error) => note(`TRUNCATE failed: ${error.message}`));
      } else if (step === 'add-column' && workload instanceof SqlWorkload) {
        await workload
          .statement('add-column', 'ALTER TABLE items ADD COLUMN IF NOT EXISTS added_mid_run text')
          .then(() => note('ALTER TABLE items ADD COLUMN'))
          .catch((error: Error) => note(`ALTER TABLE failed: ${error.message}`));
      } else if (step !== 'truncate' && step !== 'add-column') {
        await injectFault(step, context).catch((error: Error) =>
          note(`fault ${step} failed: ${error.message}`),
        );
      }
      await progress(step);
    }
    await gap(random, scale);
    workloadStats = await workload.stop();
    result.workload = workloadStats;
    if (workload instanceof ApiWorkload) {
      const answers = Object.entries(workloadStats.byAction).filter(([key]) => key.startsWith('http '));
      note(`answers: ${answers.map(([key, n]) => `${key.slice(5)} ×${n}`).join(', ')}`);
      const time = Object.entries(workloadStats.byAction).filter(([key]) => key.startsWith('ms '));
      note(
        `request time: ${time.map(([key, ms]) => `${key.slice(3)} ${Math.round(ms)} ms in all`).join(', ')}`,
      );
      if (workload.firstBadRequest) note(`first 400: ${workload.firstBadRequest}`);
      if (workload.firstError) note(`first error: ${workload.firstError}`);
    }
    note(
      `workload stopped: ${workloadStats.committed} committed, ${workloadStats.rolledBack} rolled back, ${workloadStats.errors} errors`,
    );

    // Heal everything, then wait for sync to go idle: conditions, not time.
    for (const worker of workers) await worker.start();
    await service?.start();
    await quiesce(admin, cell, config, scale, [...workers, ...(service ? [service] : [])], note);
    note('quiescent');

    const check = await checkIndex(admin, runtime, cell, cellDir, config);
    const unexpectedFailures = await failedEvents(admin);
    const reconcile = await reconcileCollection(runtime, {
      collection: 'items',
      mode: 'report',
      persist: false,
    })
      .then((report) => ({
        inSync:
          report.status === 'completed' &&
          report.counts.missing + report.counts.orphaned + report.counts.stale === 0 &&
          report.counts.unbuildable === check.unbuildable,
        counts: { ...report.counts },
      }))
      .catch((error: Error) => ({ error: error.message }));
    return { ...result, check, unexpectedFailures, reconcile, durationMs: Date.now() - started };
  } catch (error) {
    const outputs = [...workers, ...(service ? [service] : [])]
      .map((process) => `--- ${process.name}:\n${process.output()}`)
      .join('\n');
    return {
      ...result,
      check: emptyCheck(),
      unexpectedFailures: [],
      reconcile: { error: 'not reached' },
      durationMs: Date.now() - started,
      error: `${(error as Error).stack ?? error}\n${outputs}`,
    };
  } finally {
    for (const process of [...workers, ...(service ? [service] : [])])
      await process.stop().catch(() => undefined);
    if (process.env.CHAOS_VERBOSE)
      for (const child of [...workers, ...(service ? [service] : [])])
        onNote(`--- ${child.name}:\n${child.output()}`);
    await runtime?.close().catch(() => undefined);
    await admin.close();
    await dropCell(env, cell, database, config).catch((error: Error) => onNote(`cleanup: ${error.message}`));
    if (!process.env.CHAOS_KEEP) await rm(cellDir, { recursive: true, force: true });
  }
}

function cellConfig(
  env: ChaosEnvironment,
  cell: ChaosCell,
  database: string,
  dir: string,
  port: number,
): ConfigInput {
  const bus = cell.mode.endsWith('+bus');
  const store =
    cell.placement === 'lancedb'
      ? { provider: 'lancedb' as const, dataDir: join(dir, 'lancedb') }
      : cell.placement === 'pgvector-separate'
        ? { provider: 'pgvector' as const, databaseUrl: `${env.store.url(database)}?${LOCAL_COMMIT}` }
        : { provider: 'pgvector' as const };
  return {
    databaseUrl: `${env.source.url(database)}?${LOCAL_COMMIT}`,
    poolSize: 12,
    embedders: { default: { provider: 'hash', dimensions: 32 } },
    stores: { main: store },
    collections: {
      items: {
        table: 'public.items',
        primaryKey: 'id',
        tenantColumn: 'tenant',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{title}}. {{body}}',
        keywordFields: ['title', 'body'],
        payloadFields: ['category', 'price'],
        store: 'main',
        embedder: 'default',
        sync: {
          mode: cell.mode.startsWith('cdc') ? 'cdc' : cell.mode === 'dual-write' ? 'dual-write' : 'outbox',
          bus,
        },
      },
    },
    sync: {
      sweepIntervalMs: 500,
      pollIntervalMs: 100,
      heartbeatMs: 200,
      workerTimeoutMs: 2000,
      backoffBaseMs: 100,
      backoffMaxMs: 500,
      maxAttempts: 5,
      batchSize: 100,
      indexRefreshMs: 500,
    },
    cdc: {
      slot: database.slice(0, 63),
      batchSize: 300,
      batchDelayMs: 5,
      statusIntervalMs: 500,
      reconnectMaxMs: 500,
    },
    ...(bus
      ? {
          bus: {
            provider: 'nats' as const,
            url: env.nats.url(),
            stream: database.toUpperCase(),
            subjectPrefix: database,
            ackWaitMs: 2000,
          },
        }
      : {}),
    // The workload measures sync under faults, not the service's request limit.
    server: { port, runWorkers: true, rateLimit: false },
    reconcile: { schedule: { intervalMinutes: 0, fix: false } },
  };
}

/** The seeded order of faults (and of the TRUNCATE and ALTER TABLE of SQL cells). */
function faultSchedule(
  cell: ChaosCell,
  random: ChaosRandom,
  scale: ChaosScale,
): Array<FaultKind | 'truncate' | 'add-column'> {
  let kinds = faultsFor(cell);
  if (scale.maxFaults > 0) {
    const own = kinds.filter((kind) => OWN_FAULTS.includes(kind));
    const others = kinds.filter((kind) => !OWN_FAULTS.includes(kind));
    while (own.length < scale.maxFaults && others.length > 0)
      own.push(others.splice(random.int(0, others.length - 1), 1)[0]!);
    kinds = own;
  }
  const steps: Array<FaultKind | 'truncate' | 'add-column'> = [];
  for (const kind of kinds) for (let i = 0; i < scale.faultsPerKind; i++) steps.push(kind);
  if (cell.mode !== 'dual-write') steps.push('truncate', 'add-column');
  for (let i = steps.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [steps[i], steps[j]] = [steps[j]!, steps[i]!];
  }
  return steps;
}

function gap(random: ChaosRandom, scale: ChaosScale): Promise<void> {
  // The workload's running time between faults (a parameter of the run, not a synchronisation).
  return new Promise((resolve) => setTimeout(resolve, random.int(scale.gapMs[0], scale.gapMs[1])));
}

async function createDatabase(cluster: PostgresCluster, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function dropCell(
  env: ChaosEnvironment,
  cell: ChaosCell,
  database: string,
  config: ConfigInput,
): Promise<void> {
  const client = new pg.Client({ connectionString: env.source.url() });
  await client.connect();
  try {
    await client.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
      [database],
    );
    await waitFor(
      async () =>
        (await client.query('SELECT 1 FROM pg_replication_slots WHERE database = $1 AND active', [database]))
          .rowCount === 0,
      { timeoutMs: 10_000 },
    ).catch(() => undefined);
    await client.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
      [database],
    );
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
  if (cell.placement === 'pgvector-separate') {
    const store = new pg.Client({ connectionString: env.store.url() });
    await store.connect();
    await store
      .query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`)
      .finally(() => store.end());
  }
  if (config.bus) {
    const nats = await connect({ servers: env.nats.url() });
    try {
      await (await jetstreamManager(nats)).streams.delete(config.bus.stream!).catch(() => false);
    } finally {
      await nats.close();
    }
  }
}

async function seedRows(db: PgDatabase, random: ChaosRandom, count: number): Promise<void> {
  const ids = Array.from({ length: count }, (_, i) => `seed-${i}`);
  await db.query(
    `INSERT INTO items (id, tenant, title, body, category, price)
     SELECT x, (ARRAY['acme', 'globex', 'initech'])[1 + (row_number() OVER ()) % 3], 'seeded ' || x, $2, 'tops', 10
       FROM unnest($1::text[]) AS x`,
    [ids, `seeded row ${random.int(0, 1000)}`],
  );
}

async function tenantKeys(db: PgDatabase): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const tenant of ['acme', 'globex', 'initech'])
    keys[tenant] = (await createApiKey(db, { name: `chaos-${tenant}`, tenant })).key;
  return keys;
}

async function waitForHttp(port: number, service: ChaosProcess): Promise<void> {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, {
    timeoutMs: 60_000,
    message: () => `the service to answer /healthz: ${service.output()}`,
  });
}

/**
 * Sync is idle: no outbox event pending or processing (dual-write intents included), the CDC
 * slot confirmed past everything written before this moment, and the bus consumer with
 * nothing pending or unacknowledged; all at once, seen twice in a row.
 */
async function quiesce(
  db: PgDatabase,
  cell: ChaosCell,
  config: ConfigInput,
  scale: ChaosScale,
  processes: ChaosProcess[],
  note: (line: string) => void,
): Promise<void> {
  const written = parseLsn(
    (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn,
  );
  let nats: Awaited<ReturnType<typeof connect>> | undefined;
  let lastState = '';
  const state = async (): Promise<string> => {
    const open = await db.query<{ n: number; due: number; origins: string | null }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE run_after <= clock_timestamp())::int AS due,
              string_agg(DISTINCT status || '/' || origin || ':' || coalesce(last_error_code, '-'), ' ') AS origins
         FROM vectorsync.outbox WHERE status IN ('pending', 'processing')`,
    );
    const row = open.rows[0]!;
    const parts = [`open events ${row.n}${row.n > 0 ? ` (${row.due} due; ${row.origins})` : ''}`];
    if (cell.mode.startsWith('cdc')) {
      const slot = await slotInfo(db, config.cdc!.slot!);
      const confirmed = slot?.confirmedFlushLsn ?? 0n;
      parts.push(confirmed >= written ? 'slot caught up' : `slot behind by ${written - confirmed} bytes`);
    }
    if (config.bus) {
      nats ??= await connect({ servers: config.bus.url! });
      const info = await (await jetstreamManager(nats)).consumers
        .info(config.bus.stream!, `vectorsync-apply_items`)
        .catch(() => undefined);
      parts.push(
        info ? `bus pending ${info.num_pending} unacked ${info.num_ack_pending}` : 'bus consumer missing',
      );
    }
    return parts.join(', ');
  };
  const idle = (text: string) =>
    text.startsWith('open events 0,') || text === 'open events 0' ? idleRest(text) : false;
  const idleRest = (text: string) =>
    !text.includes('behind') &&
    !text.includes('missing') &&
    (!text.includes('bus') || text.includes('bus pending 0 unacked 0'));
  let lastNote = Date.now();
  try {
    let stableOnce = false;
    await waitFor(
      async () => {
        lastState = await state();
        if (Date.now() - lastNote > 5000) {
          lastNote = Date.now();
          note(`waiting: ${lastState}`);
        }
        if (!idle(lastState)) {
          stableOnce = false;
          return undefined;
        }
        if (!stableOnce) {
          stableOnce = true;
          return undefined;
        }
        return true;
      },
      {
        timeoutMs: scale.quiesceTimeoutMs,
        intervalMs: 200,
        message: () =>
          `sync to go idle (last: ${lastState})\n${processes.map((p) => `--- ${p.name}:\n${p.output()}`).join('\n')}`,
      },
    );
  } finally {
    await nats?.close();
  }
  note(lastState);
}

async function checkIndex(
  db: PgDatabase,
  runtime: VectorsyncRuntime,
  cell: ChaosCell,
  dir: string,
  config: ConfigInput,
): Promise<DriftCheck> {
  const collection = runtime.collection('items');
  await runtime.refreshIndexes();
  const location = runtime.activeTarget('items').record.location;
  const expected = await expectedDocuments(db, collection.definition, 32);
  if (cell.placement === 'lancedb') {
    const dataDir = join(dir, 'lancedb');
    const check = compareWithSource(expected, await readLancedbRecords(dataDir, location), 32);
    const duplicates = await lancedbDuplicateIds(dataDir, location);
    check.duplicated += duplicates.length;
    check.samples.push(...duplicates.slice(0, 5).map((id) => `duplicated ${id}`));
    return check;
  }
  const storeDb =
    cell.placement === 'pgvector-separate'
      ? PgDatabase.fromUrl(String((config.stores.main as { databaseUrl: string }).databaseUrl), { max: 1 })
      : db;
  try {
    const check = compareWithSource(expected, await readPgvectorRecords(storeDb, location), 32);
    const keyword = await pgvectorKeywordIndexProblems(storeDb, location);
    check.keywordIndex = keyword.length;
    check.samples.push(...keyword.slice(0, 5));
    return check;
  } finally {
    if (storeDb !== db) await storeDb.close();
  }
}

async function failedEvents(db: PgDatabase): Promise<string[]> {
  // Rows that cannot be indexed end failed by design; any other failure set a change aside.
  const result = await db.query<{ source_id: string; last_error_code: string; last_error: string }>(
    `SELECT o.source_id, o.last_error_code, o.last_error FROM vectorsync.outbox o
      WHERE o.status = 'failed' AND o.last_error_code NOT IN ('TEMPLATE_FIELD_MISSING')
      ORDER BY o.id LIMIT 20`,
  );
  return result.rows.map((row) => `${row.source_id}: ${row.last_error_code} ${row.last_error.slice(0, 200)}`);
}

function emptyCheck(): DriftCheck {
  return {
    sourceRows: 0,
    unbuildable: 0,
    records: 0,
    missing: 0,
    orphaned: 0,
    stale: 0,
    duplicated: 0,
    keywordIndex: 0,
    samples: [],
  };
}
