/**
 * One thing `vectorsync check` found. Codes are stable (scripts match on them); messages and
 * hints are for people and may be reworded.
 */
export interface CheckFinding {
  severity: CheckSeverity;
  code: CheckCode;
  /** The offending object: a config key, a table, a column, a role, a schema. */
  object: string;
  /** The collection it concerns, when it concerns one. */
  collection?: string;
  message: string;
  /** What to do about it. */
  hint?: string;
}

/** error: setup or sync would fail. warning: works, but can lose, leak or mislead. info: worth knowing. */
export type CheckSeverity = 'error' | 'warning' | 'info';

export const CheckCode = {
  /** The config file does not validate (each problem is one finding). */
  ConfigInvalid: 'CONFIG_INVALID',
  /** No databaseUrl / DATABASE_URL: the database checks were skipped. */
  DatabaseNotConfigured: 'DATABASE_NOT_CONFIGURED',
  /** vectorsync's schema is not installed yet (a fresh database). */
  NotInstalled: 'NOT_INSTALLED',
  MigrationsPending: 'MIGRATIONS_PENDING',
  MigrationAhead: 'MIGRATION_AHEAD',
  SourceTableNotFound: 'SOURCE_TABLE_NOT_FOUND',
  /** The collection's config does not match its live table (a missing column, a wrong type…). */
  CollectionMismatch: 'COLLECTION_MISMATCH',
  TenantColumnNullable: 'TENANT_COLUMN_NULLABLE',
  VersionNotMaintained: 'VERSION_NOT_MAINTAINED',
  VersionTriggerNotInstalled: 'VERSION_TRIGGER_NOT_INSTALLED',
  PrimaryKeyGlobal: 'PRIMARY_KEY_GLOBAL',
  IndexNotBuilt: 'INDEX_NOT_BUILT',
  /** Neither the vector extension is installed nor may this role create it. */
  PrivilegeCreateExtension: 'PRIVILEGE_CREATE_EXTENSION',
  ExtensionNotAvailable: 'EXTENSION_NOT_AVAILABLE',
  /** The vectorsync schema does not exist and this role may not create schemas in the database. */
  PrivilegeCreateSchema: 'PRIVILEGE_CREATE_SCHEMA',
  /** USAGE or CREATE on the vectorsync schema is missing. */
  PrivilegeSchema: 'PRIVILEGE_SCHEMA',
  /** SELECT, INSERT, UPDATE or DELETE on vectorsync's own tables is missing. */
  PrivilegeVectorsyncTables: 'PRIVILEGE_VECTORSYNC_TABLES',
  /** A privilege on the source table (SELECT, INSERT, UPDATE, DELETE, REFERENCES) is missing. */
  PrivilegeSourceTable: 'PRIVILEGE_SOURCE_TABLE',
  /** Triggers (outbox capture, managed version) and publication membership need the table's owner. */
  PrivilegeTableOwner: 'PRIVILEGE_TABLE_OWNER',
  /** CDC needs the REPLICATION attribute. */
  PrivilegeReplication: 'PRIVILEGE_REPLICATION',
  /** CDC: creating the publication needs CREATE on the database; altering it, its ownership. */
  PrivilegePublication: 'PRIVILEGE_PUBLICATION',
  WalLevelNotLogical: 'WAL_LEVEL_NOT_LOGICAL',
  NoFreeReplicationSlot: 'NO_FREE_REPLICATION_SLOT',
  /** CDC: the table's replica identity does not carry the key of deleted rows. */
  ReplicaIdentityMissing: 'REPLICA_IDENTITY_MISSING',
  /** The index lives in another database the check does not connect to. */
  NotChecked: 'NOT_CHECKED',
} as const;

export type CheckCode = (typeof CheckCode)[keyof typeof CheckCode];

export interface CheckReport {
  findings: CheckFinding[];
  counts: Record<CheckSeverity, number>;
}

export function checkReport(findings: CheckFinding[]): CheckReport {
  const order: Record<CheckSeverity, number> = { error: 0, warning: 1, info: 2 };
  const sorted = [...findings].sort((a, b) => order[a.severity] - order[b.severity]);
  const counts = { error: 0, warning: 0, info: 0 };
  for (const finding of findings) counts[finding.severity]++;
  return { findings: sorted, counts };
}
