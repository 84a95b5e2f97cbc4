import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Database } from './database.js';
import { SqlState, sqlStateOf } from './sqlstate.js';

/** Where a pool connects: what an operator needs to find the misconfiguration, never the password. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

export type ConnectionFailureReason =
  | 'connection refused'
  | 'unknown host'
  | 'authentication failed'
  | 'database does not exist'
  | 'connection timed out'
  | 'host unreachable'
  | 'connection lost'
  | 'server shutting down';

const byNodeCode = new Map<string, ConnectionFailureReason>([
  ['ECONNREFUSED', 'connection refused'],
  ['ENOTFOUND', 'unknown host'],
  ['EAI_AGAIN', 'unknown host'],
  ['ETIMEDOUT', 'connection timed out'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENETUNREACH', 'host unreachable'],
  ['ENETDOWN', 'host unreachable'],
  ['EHOSTDOWN', 'host unreachable'],
  ['EADDRNOTAVAIL', 'host unreachable'],
  ['ECONNABORTED', 'connection lost'],
  ['ECONNRESET', 'connection lost'],
  ['EPIPE', 'connection lost'],
]);

/**
 * Why a connection to Postgres failed or broke, or undefined when the error is about the
 * statement rather than the connection. The SQLSTATEs come from the server's startup reply.
 */
export function connectionFailureReason(error: unknown): ConnectionFailureReason | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const byCode = typeof code === 'string' ? byNodeCode.get(code) : undefined;
  if (byCode) return byCode;
  const message = error instanceof Error ? error.message : '';
  // A Unix-socket DATABASE_URL (host=/var/run/postgresql): no socket file means no server there.
  // Matched on the socket's name, so a missing file elsewhere is not taken for an outage.
  if (code === 'ENOENT' && /\/\.s\.PGSQL\.\d+\b/.test(message)) return 'connection refused';
  const state = sqlStateOf(error);
  // Class 28: invalid_authorization_specification (no pg_hba entry, unknown role), invalid_password.
  if (state?.startsWith('28')) return 'authentication failed';
  if (state === SqlState.InvalidCatalogName) return 'database does not exist';
  if (state?.startsWith('08')) return 'connection lost'; // connection_exception
  if (
    state === SqlState.AdminShutdown ||
    state === SqlState.CrashShutdown ||
    state === SqlState.CannotConnectNow
  )
    return 'server shutting down';
  // node-postgres raises these as plain Errors, without a code.
  if (/^SASL: |client password must be a string/.test(message)) return 'authentication failed';
  if (/timeout expired|connection timeout|timeout exceeded when trying to connect/i.test(message))
    return 'connection timed out';
  if (/Connection terminated|Client has encountered a connection error/i.test(message))
    return 'connection lost';
  return undefined;
}

/**
 * True when the failure says "the database is not reachable right now" rather than "this
 * statement is wrong": a retry later, with the same input, can succeed.
 */
export function isConnectionError(error: unknown): boolean {
  return connectionFailureReason(error) !== undefined;
}

function hintFor(reason: ConnectionFailureReason, target: ConnectionTarget | undefined): string {
  const where = target ? `${target.host}:${target.port}` : 'the configured host and port';
  switch (reason) {
    case 'connection refused':
      return `is Postgres running and accepting TCP connections on ${where}? Check the host and port in DATABASE_URL or the config's databaseUrl`;
    case 'unknown host':
      return `the host name${target ? ` "${target.host}"` : ''} does not resolve; check the host in DATABASE_URL or the config's databaseUrl`;
    case 'authentication failed':
      return `check the user${target ? ` "${target.user}"` : ''} and password in DATABASE_URL or the config's databaseUrl, and pg_hba.conf on the server`;
    case 'database does not exist':
      return target
        ? `create it (createdb -h ${target.host} -p ${target.port} ${target.database}) or fix the database name in DATABASE_URL`
        : 'create it or fix the database name in DATABASE_URL';
    case 'connection timed out':
    case 'host unreachable':
      return `no answer from ${where}; check the host, the port and any firewall between`;
    case 'connection lost':
    case 'server shutting down':
      return 'the server closed the connection (a restart or failover?); retry once it is back';
  }
}

/**
 * The one error a caller reports when the source database cannot be reached: code
 * SOURCE_UNAVAILABLE, the host and database (never the password), the reason and a hint.
 * Undefined when `error` is not a connection failure.
 */
export function sourceUnavailable(
  error: unknown,
  target: ConnectionTarget | undefined,
): VectorsyncError | undefined {
  const reason = connectionFailureReason(error);
  if (!reason) return undefined;
  const hint = hintFor(reason, target);
  // Without the target, the driver's own text is the only place naming it (it holds no password).
  const where = target
    ? ` at ${target.host}:${target.port}, database "${target.database}" as user "${target.user}"`
    : '';
  const driverText = !target && error instanceof Error && error.message ? ` (${error.message})` : '';
  return new VectorsyncError(
    ErrorCode.SourceUnavailable,
    `cannot connect to Postgres${where}: ${reason}${driverText}`,
    {
      cause: error,
      // A missing database or a wrong password needs an operator; the others may clear by themselves.
      transient: reason !== 'authentication failed' && reason !== 'database does not exist',
      details: { ...(target ?? {}), reason, hint },
    },
  );
}

/**
 * One round trip before anything else, so that a database that cannot be reached is reported
 * as such (SOURCE_UNAVAILABLE naming the target) rather than as the first query that needed it.
 */
export async function assertSourceReachable(db: Database): Promise<void> {
  try {
    await db.query('SELECT 1');
  } catch (error) {
    throw sourceUnavailable(error, db.target) ?? error;
  }
}
