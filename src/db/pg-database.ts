import pg from 'pg';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { ConnectionTarget } from './connection-failure.js';
import type { Database, ListenSession, QueryResult, SqlExecutor } from './database.js';

export interface PgDatabaseOptions {
  pool: pg.Pool;
  logger?: Logger;
  /** Close the pool on close(); true when this object created it. */
  ownsPool?: boolean;
}

export class PgDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly ownsPool: boolean;
  private closed = false;

  private lockPool: pg.Pool | undefined;
  private resolvedTarget: ConnectionTarget | undefined;

  constructor(options: PgDatabaseOptions) {
    this.pool = options.pool;
    this.logger = options.logger ?? silentLogger;
    this.ownsPool = options.ownsPool ?? false;
    // An idle client can die when Postgres restarts; without a listener node would crash.
    this.pool.on('error', (error) =>
      this.logger.warn({ err: error.message }, 'idle database connection lost'),
    );
  }

  static fromUrl(
    connectionString: string,
    options: { max?: number; logger?: Logger; applicationName?: string } = {},
  ): PgDatabase {
    const pool = new pg.Pool({
      connectionString,
      max: options.max ?? 10,
      application_name: options.applicationName ?? 'vectorsync',
    });
    return new PgDatabase({ pool, ownsPool: true, ...(options.logger ? { logger: options.logger } : {}) });
  }

  /** Host, port, database and user as node-postgres resolves them (URL, PG* variables, defaults). */
  get target(): ConnectionTarget {
    if (!this.resolvedTarget) {
      // A Client resolves the parameters in its constructor and opens nothing until connect().
      const parameters = new pg.Client(this.pool.options);
      const user = parameters.user ?? '';
      this.resolvedTarget = {
        host: parameters.host,
        port: parameters.port,
        database: parameters.database ?? user,
        user,
      };
    }
    return this.resolvedTarget;
  }

  async query<Row>(text: string, values?: readonly unknown[]): Promise<QueryResult<Row>> {
    const result = await this.pool.query(text, values as unknown[] | undefined);
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: SqlExecutor = {
      async query<Row>(text: string, values?: readonly unknown[]) {
        const result = await client.query(text, values as unknown[] | undefined);
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
      },
    };
    let broken: Error | undefined;
    // Between two queries of the transaction the server can end the session (a restart, an
    // administrator): pg emits that as an 'error' event, which without a listener kills the process.
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const value = await work(tx);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      client.off('error', onError);
      // A connection that could not roll back, or that died, is not returned to the pool.
      client.release(broken);
    }
  }

  async withAdvisoryLock<T>(key: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T> {
    if (!this.lockPool) {
      this.lockPool = new pg.Pool({
        ...this.pool.options,
        max: 64,
        idleTimeoutMillis: 5000,
        application_name: `${this.pool.options.application_name ?? 'vectorsync'}-lock`,
      });
      // An idle lock connection the server ends (a restart) is simply replaced.
      this.lockPool.on('error', () => undefined);
    }
    const client = await this.lockPool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    let finished = false;
    let result: T;
    try {
      await client.query('BEGIN');
      await client.query(
        mode === 'shared'
          ? 'SELECT pg_advisory_xact_lock_shared($1::bigint)'
          : 'SELECT pg_advisory_xact_lock($1::bigint)',
        [key],
      );
      result = await work();
      finished = true;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken ??= rollbackError;
      });
      // The work is done and written; only releasing the lock failed (its session is gone).
      if (finished) return result!;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async openListenSession(): Promise<ListenSession> {
    const applicationName = `${this.pool.options.application_name ?? 'vectorsync'}-listen`;
    const client = new pg.Client({ ...this.pool.options, application_name: applicationName });
    await client.connect();
    return new PgListenSession(client);
  }

  async close(): Promise<void> {
    const lockPool = this.lockPool;
    this.lockPool = undefined;
    // The lock pool is this object's own, whoever owns the main pool.
    await lockPool?.end();
    if (this.closed || !this.ownsPool) return;
    this.closed = true;
    await this.pool.end();
  }
}

class PgListenSession implements ListenSession {
  private lostCallback: ((error: Error) => void) | undefined;
  private lost = false;
  private readonly handlers = new Map<string, (payload: string) => void>();

  constructor(private readonly client: pg.Client) {
    client.on('notification', (message) => {
      this.handlers.get(message.channel)?.(message.payload ?? '');
    });
    const markLost = (error: Error) => {
      if (this.lost) return;
      this.lost = true;
      this.lostCallback?.(error);
    };
    client.on('error', markLost);
    client.on('end', () => markLost(new Error('listen connection ended')));
  }

  async listen(channel: string, onNotification: (payload: string) => void): Promise<void> {
    this.handlers.set(channel, onNotification);
    await this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  }

  async ping(): Promise<void> {
    await this.client.query('SELECT 1');
  }

  onLost(callback: (error: Error) => void): void {
    this.lostCallback = callback;
  }

  async close(): Promise<void> {
    this.lost = true;
    await this.client.end().catch(() => undefined);
  }
}
