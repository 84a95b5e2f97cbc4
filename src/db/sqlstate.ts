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
  CharacterNotInRepertoire: '22021',
  UndefinedTable: '42P01',
  UndefinedColumn: '42703',
  UndefinedObject: '42704',
  InsufficientPrivilege: '42501',
  QueryCanceled: '57014',
  AdminShutdown: '57P01',
  CrashShutdown: '57P02',
  CannotConnectNow: '57P03',
  InvalidCatalogName: '3D000',
  LockNotAvailable: '55P03',
  SerializationFailure: '40001',
  DeadlockDetected: '40P01',
} as const;

export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
