import type { ConnectionTarget } from './connection-failure.js';

/**
 * The narrow database surface vectorsync needs. Both node-postgres (production) and PGlite
 * (the embedded demo) implement it, and so can any client with `query(text, values)`.
 */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<Row>>;
}

/** A long-lived session used only for LISTEN; see sync/notify-listener.ts for reconnects. */
export interface ListenSession {
  listen(channel: string, onNotification: (payload: string) => void): Promise<void>;
  /** A cheap round trip that proves the session is alive. */
  ping(): Promise<void>;
  /** Called at most once, when the session is lost. */
  onLost(callback: (error: Error) => void): void;
  close(): Promise<void>;
}

export interface Database extends SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  /** Where it connects (absent for an embedded database), for error messages. */
  readonly target?: ConnectionTarget;
  /** Runs `work` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  openListenSession(): Promise<ListenSession>;
  /**
   * Runs `work` while holding a transaction-level advisory lock on a connection of its own,
   * never one of the connections `work` itself may need (so holders cannot exhaust the pool
   * and wait on each other). Absent on a database with one connection and one process (PGlite).
   */
  withAdvisoryLock?<T>(key: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
