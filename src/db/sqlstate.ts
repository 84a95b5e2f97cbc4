/** SQLSTATE codes vectorsync reacts to, named once. */
export const SqlState = {
  UniqueViolation: '23505',
  ForeignKeyViolation: '23503',
  NotNullViolation: '23502',
  CheckViolation: '23514',
  InvalidTextRepresentation: '22P02',
  NumericValueOutOfRange: '22003',
  InvalidDatetimeFormat: '22007',
  DatetimeFieldOverflow: '22008',
  StringDataRightTruncation: '22001',
  UndefinedTable: '42P01',
  UndefinedColumn: '42703',
  UndefinedObject: '42704',
  InsufficientPrivilege: '42501',
  QueryCanceled: '57014',
  AdminShutdown: '57P01',
  CrashShutdown: '57P02',
  CannotConnectNow: '57P03',
  LockNotAvailable: '55P03',
  SerializationFailure: '40001',
  DeadlockDetected: '40P01',
} as const;

export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/**
 * True when the failure says "the database is not reachable right now" rather than
 * "this statement is wrong": a retry later, with the same input, can succeed.
 */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (connectionErrorCodes.has(code)) return true;
    if (code.startsWith('08')) return true; // connection_exception class
    if (
      code === SqlState.AdminShutdown ||
      code === SqlState.CrashShutdown ||
      code === SqlState.CannotConnectNow
    )
      return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    message,
  );
}
