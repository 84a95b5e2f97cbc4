import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { SqlExecutor } from '../db/database.js';
import { coerceError, ErrorCode, VectorsyncError } from '../errors.js';
import { CATALOG_CHANNEL } from '../index-versions/catalog-channel.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { NotifyListener } from './notify-listener.js';

/**
 * Keeps one process's list of live indexes (the targets every write goes to) current, and
 * records in `vectorsync.index_writers` when it last reloaded it. Whoever starts building a
 * new index beside the active one waits for every live writer to have seen it
 * (`waitForIndexWriters`) before reading the source, so no change can slip past the new index.
 * It reloads when the catalog announces a change (NOTIFY, with `sync.wake: notify`) and every
 * `intervalMs` regardless, which is also the heartbeat the handshake relies on and the safety
 * net for a notification lost while the LISTEN connection was down.
 */
export class IndexWatcher {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  /** A change was announced while a reload was running: that reload may have read too early. */
  private again = false;
  private listener: NotifyListener | undefined;

  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  async start(): Promise<void> {
    if (this.timer) return;
    await this.refresh();
    this.timer = setInterval(() => this.refreshInBackground(), this.intervalMs);
    this.timer.unref();
    const { sync } = this.runtime.config;
    if (sync.wake === 'notify') {
      this.listener = new NotifyListener({
        db: this.runtime.db,
        channel: CATALOG_CHANNEL,
        onNotification: () => this.refreshInBackground(),
        // Changes announced while disconnected were not heard: reload now.
        onConnected: () => this.refreshInBackground(),
        heartbeatMs: sync.heartbeatMs,
        reconnectMaxMs: sync.listenReconnectMaxMs,
        logger: this.logger,
      });
      await this.listener.start();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.listener?.stop();
    this.listener = undefined;
    this.again = false;
    await this.refreshing?.catch(() => undefined);
    await this.runtime.db
      .query('DELETE FROM vectorsync.index_writers WHERE id = $1', [this.id])
      .catch(() => undefined);
  }

  /**
   * Reloads now; resolves once the new targets are in use and the fact is recorded. A call
   * during a running reload waits for it and then reloads once more (however many calls came
   * meanwhile): the running one may have read the catalog before the change that prompted them.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          await this.reload();
        } while (this.again);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private refreshInBackground(): void {
    this.refresh().catch((error) =>
      this.logger.warn({ err: coerceError(error).message }, 'could not reload live indexes'),
    );
  }

  private async reload(): Promise<void> {
    const db = this.runtime.db;
    // Taken before reading the registry: anything committed before this instant is seen.
    const at = (await db.query<{ at: Date }>('SELECT clock_timestamp() AS at')).rows[0]!.at;
    await this.runtime.refreshIndexes();
    await db.query(
      `INSERT INTO vectorsync.index_writers (id, hostname, pid, indexes_seen_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), indexes_seen_at = EXCLUDED.indexes_seen_at`,
      [this.id, hostname(), process.pid, at],
    );
  }
}

/**
 * Waits until every writer heartbeating within `staleAfterMs` has reloaded its live indexes
 * after `since` (a database timestamp taken after the new index was committed). Writers that
 * stopped heartbeating are not waited for: they write nothing.
 */
export async function waitForIndexWriters(
  db: SqlExecutor,
  options: { since: Date; staleAfterMs: number; timeoutMs: number; logger?: Logger },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  // A writer that reloaded on the change's own notification may have read the catalog after the
  // commit but before `since`, which does not count: ask every listening writer to reload again.
  await db.query('SELECT pg_notify($1, $2)', [CATALOG_CHANNEL, '']);
  for (;;) {
    const lagging = await db.query<{ id: string }>(
      `SELECT id FROM vectorsync.index_writers
        WHERE heartbeat_at > now() - make_interval(secs => $2 / 1000.0)
          AND (indexes_seen_at IS NULL OR indexes_seen_at < $1)`,
      [options.since, options.staleAfterMs],
    );
    if (lagging.rows.length === 0) return;
    if (Date.now() > deadline) {
      throw new VectorsyncError(
        ErrorCode.Timeout,
        `writers ${lagging.rows.map((row) => row.id).join(', ')} have not picked up the new index within ${options.timeoutMs} ms; are they stuck? (the new index was not filled)`,
        { details: { writers: lagging.rows.map((row) => row.id) } },
      );
    }
    options.logger?.debug(
      { writers: lagging.rows.map((row) => row.id) },
      'waiting for writers to see the new index',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A database timestamp taken now (after the caller's commit). */
export async function databaseNow(db: SqlExecutor): Promise<Date> {
  return (await db.query<{ at: Date }>('SELECT clock_timestamp() AS at')).rows[0]!.at;
}

/**
 * How long a writer may be silent and still count as alive for the handshake. A writer's
 * heartbeat is its index refresh, so the bound must exceed the refresh interval whatever
 * `workerTimeoutMs` says.
 */
export function writerStaleAfterMs(sync: { workerTimeoutMs: number; indexRefreshMs: number }): number {
  return Math.max(sync.workerTimeoutMs, sync.indexRefreshMs * 3);
}
