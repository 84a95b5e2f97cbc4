import { formatLsn, parseLsn } from '../src/capture/cdc/lsn.js';
import { PgoutputDecoder } from '../src/capture/cdc/pgoutput-decoder.js';
import { ReplicationConnection } from '../src/capture/cdc/replication-connection.js';
import type { SqlExecutor } from '../src/db/database.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { CdcConsumer } from '../src/sync/cdc-consumer.js';

/** Fails a wait that has made no progress for this long, instead of hanging the benchmark. */
const STALL_MS = 180_000;

export interface DrainResult {
  seconds: number;
  events: number;
  batches: number;
  failed: number;
  embedded: number;
  skippedStale: number;
  /** When the applied changes first reached `milestone` (e.g. the end of the inserts). */
  milestoneSeconds?: number;
}

/**
 * Starts a CDC consumer and resolves once the slot is confirmed past `marker` (a WAL position
 * inside the last source transaction): every change up to there has been applied to the index.
 * Time runs from `start()` (connecting and START_REPLICATION included) to that confirmation.
 */
export async function drainWithConsumer(
  runtime: VectorsyncRuntime,
  marker: bigint,
  batchSize: number,
  milestone?: number,
): Promise<DrainResult> {
  const consumer = new CdcConsumer({ runtime, cdc: { batchSize } });
  const result: DrainResult = { seconds: 0, events: 0, batches: 0, failed: 0, embedded: 0, skippedStale: 0 };
  let lastProgress = Date.now();
  let confirmed = 0n;
  const errors: string[] = [];
  consumer.on('error', (error) => errors.push(error.message));
  const done = new Promise<void>((resolve, reject) => {
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > STALL_MS) {
        clearInterval(watchdog);
        reject(
          new Error(
            `CDC drain stalled at ${formatLsn(confirmed)} (target ${formatLsn(marker)}); errors: ${errors.slice(-3).join(' | ')}`,
          ),
        );
      }
    }, 1000);
    consumer.on('batch', (report) => {
      lastProgress = Date.now();
      result.events += report.events;
      result.batches++;
      result.failed += report.failed;
      result.embedded += report.stats?.embedded ?? 0;
      result.skippedStale += report.stats?.skippedStale ?? 0;
      confirmed = parseLsn(report.confirmedLsn);
      if (confirmed >= marker) {
        clearInterval(watchdog);
        resolve();
      }
    });
  });
  const started = performance.now();
  consumer.on('batch', () => {
    if (milestone !== undefined && result.milestoneSeconds === undefined && result.events >= milestone)
      result.milestoneSeconds = (performance.now() - started) / 1000;
  });
  await consumer.start();
  try {
    await done;
    result.seconds = (performance.now() - started) / 1000;
  } finally {
    await consumer.stop();
    await slotReleased(runtime.db, runtime.config.cdc.slot);
  }
  return result;
}

/**
 * Read and decode only: streams a second slot that saw the same backlog through the same
 * replication transport and pgoutput decoder the consumer uses, counts the row changes, and
 * applies nothing. This is the ceiling for the CDC path on this machine (walsender decoding
 * + network + decoding in Node).
 */
export async function decodeOnly(
  db: SqlExecutor,
  url: string,
  slot: string,
  publication: string,
  marker: bigint,
): Promise<{ seconds: number; changes: number; transactions: number }> {
  const connection = new ReplicationConnection({ connectionString: url, application_name: 'bench-decode' });
  const decoder = new PgoutputDecoder();
  let changes = 0;
  let transactions = 0;
  let lastEnd = 0n;
  let lastProgress = Date.now();
  const done = new Promise<void>((resolve, reject) => {
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > STALL_MS) {
        clearInterval(watchdog);
        reject(new Error(`decode-only stalled at ${formatLsn(lastEnd)} (target ${formatLsn(marker)})`));
      }
    }, 1000);
    connection.on('error', (error) => {
      clearInterval(watchdog);
      reject(error);
    });
    connection.on('data', ({ payload }) => {
      lastProgress = Date.now();
      const message = decoder.decode(payload);
      if (message.tag === 'insert' || message.tag === 'update' || message.tag === 'delete') changes++;
      else if (message.tag === 'commit') {
        transactions++;
        lastEnd = message.endLsn;
        if (message.endLsn >= marker) {
          clearInterval(watchdog);
          resolve();
        }
      }
    });
    connection.on('keepalive', ({ replyRequested }) => {
      if (replyRequested) connection.sendStatus(lastEnd);
    });
  });
  const started = performance.now();
  await connection.start(slot, publication, 0n);
  await done;
  const seconds = (performance.now() - started) / 1000;
  await connection.close();
  await slotReleased(db, slot);
  await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
  return { seconds, changes, transactions };
}

/** The walsender lets go of a slot a moment after its connection ends; an active slot blocks DROP DATABASE. */
export async function slotReleased(db: SqlExecutor, slot: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const active = await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [
      slot,
    ]);
    if (active.rowCount === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`replication slot ${slot} is still in use 10 s after its consumer stopped`);
}
