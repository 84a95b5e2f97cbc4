import type { ResolvedConfig } from '../config/resolve-config.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { cdcFindings } from './cdc-findings.js';
import { CheckCode, type CheckFinding } from './check-finding.js';
import type { DatabaseCatalog } from './database-catalog.js';
import { type SourceTableCatalog, tableLabel } from './source-table-catalog.js';

export interface PrivilegeContext {
  config: ResolvedConfig;
  database: DatabaseCatalog;
  /** Source tables that exist, by collection. */
  tables: Map<string, SourceTableCatalog>;
  cdc: { publication?: { owner: string; ownedByCurrentRole: boolean }; slotExists: boolean };
}

/**
 * Every privilege the configured sync modes and stores need that the connected role lacks,
 * each named with the statement that grants it (docs/sync-modes.md#privileges lists them).
 */
export function privilegeFindings(context: PrivilegeContext): CheckFinding[] {
  const collections = Object.entries(context.config.collections);
  const inSourceDatabase = collections.filter(([, c]) => pgvectorInSourceDatabase(context.config, c.store));
  const cdc = collections.filter(([, c]) => c.sync.mode === 'cdc');
  return [
    ...schemaFindings(context.database),
    ...(inSourceDatabase.length > 0
      ? extensionFindings(
          context.database,
          inSourceDatabase.map(([name]) => name),
        )
      : []),
    ...(cdc.length > 0
      ? cdcFindings(
          context,
          cdc.map(([name]) => name),
        )
      : []),
    ...collections.flatMap(([name]) => {
      const catalog = context.tables.get(name);
      return catalog ? tableFindings(context, name, catalog) : [];
    }),
  ];
}

export function pgvectorInSourceDatabase(config: ResolvedConfig, storeName: string): boolean {
  const store = config.stores[storeName];
  return store?.provider === 'pgvector' && !store.databaseUrl;
}

function schemaFindings(database: DatabaseCatalog): CheckFinding[] {
  const role = quoteIdent(database.role);
  const findings: CheckFinding[] = [];
  if (!database.vectorsyncSchema.exists) {
    if (!database.superuser && !database.createOnDatabase)
      findings.push({
        severity: 'error',
        code: CheckCode.PrivilegeCreateSchema,
        object: `database ${database.database}`,
        message: `schema vectorsync does not exist and role "${database.role}" may not create it (no CREATE on database ${database.database})`,
        hint: `GRANT CREATE ON DATABASE ${quoteIdent(database.database)} TO ${role}, or run \`vectorsync migrate\` once as a role that may and grant this one USAGE, CREATE on the schema`,
      });
    return findings;
  }
  const missing = [
    ...(database.vectorsyncSchema.usage ? [] : ['USAGE']),
    ...(database.vectorsyncSchema.create ? [] : ['CREATE']),
  ];
  if (missing.length > 0)
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegeSchema,
      object: 'schema vectorsync',
      message: `role "${database.role}" lacks ${missing.join(' and ')} on schema vectorsync (setup creates index tables and functions there)`,
      hint: `GRANT ${missing.join(', ')} ON SCHEMA vectorsync TO ${role}`,
    });
  if (database.vectorsyncObjectsLacking.length > 0) {
    const objects = database.vectorsyncObjectsLacking;
    // Index tables multiply with collections and index versions: name a few, count the rest.
    const shown = objects.slice(0, 8);
    const more = objects.length > shown.length ? ` and ${objects.length - shown.length} more` : '';
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegeVectorsyncTables,
      object: `${shown.map((object) => `vectorsync.${object.name}`).join(', ')}${more}`,
      message: `role "${database.role}" lacks ${shown.map((object) => `${object.missing.join('/')} on vectorsync.${object.name}`).join(', ')}${more}`,
      hint: `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA vectorsync TO ${role}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA vectorsync TO ${role}`,
    });
  }
  return findings;
}

function extensionFindings(database: DatabaseCatalog, collections: string[]): CheckFinding[] {
  const extension = database.vectorExtension;
  if (extension.installed) return [];
  const users = `collection${collections.length > 1 ? 's' : ''} ${collections.join(', ')} (pgvector store in this database)`;
  if (!extension.available)
    return [
      {
        severity: 'error',
        code: CheckCode.ExtensionNotAvailable,
        object: 'extension vector',
        message: `the vector extension (pgvector) is not installed on the server, and ${users} need${collections.length > 1 ? '' : 's'} it`,
        hint: 'install pgvector on the Postgres server (e.g. the postgresql-NN-pgvector package), then CREATE EXTENSION vector',
      },
    ];
  const mayCreate = database.superuser || (extension.trusted && database.createOnDatabase);
  if (mayCreate) return [];
  return [
    {
      severity: 'error',
      code: CheckCode.PrivilegeCreateExtension,
      object: 'extension vector',
      message: `the vector extension is not created in database ${database.database} and role "${database.role}" may not create it (${extension.trusted ? 'no CREATE on the database' : 'pgvector is not a trusted extension: creating it takes a superuser'}); ${users} need${collections.length > 1 ? '' : 's'} it`,
      hint: `as a superuser, once: CREATE EXTENSION vector; in database ${database.database} (this role then needs nothing more for it)`,
    },
  ];
}

function tableFindings(
  context: PrivilegeContext,
  collection: string,
  catalog: SourceTableCatalog,
): CheckFinding[] {
  const { config, database } = context;
  const collectionConfig = config.collections[collection]!;
  const mode = collectionConfig.sync.mode;
  const table = tableLabel(catalog.table);
  const role = quoteIdent(database.role);
  const findings: CheckFinding[] = [];

  if (!catalog.schemaUsage)
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegeSchema,
      object: `schema ${catalog.table.schema}`,
      collection,
      message: `role "${database.role}" lacks USAGE on schema ${catalog.table.schema}, which holds ${table}: no privilege on the table can be used without it`,
      hint: `GRANT USAGE ON SCHEMA ${quoteIdent(catalog.table.schema)} TO ${role}`,
    });
  const needed: Array<{ privilege: string; why: string }> = [
    { privilege: 'SELECT', why: 'backfill, re-reads of changed rows and reconcile read it' },
  ];
  if (pgvectorInSourceDatabase(config, collectionConfig.store))
    needed.push({ privilege: 'REFERENCES', why: 'the index table has a foreign key to it' });
  const apiWrites = (['INSERT', 'UPDATE', 'DELETE'] as const).map((privilege) => ({
    privilege,
    why: 'the documents API writes it',
  }));
  if (mode === 'dual-write') needed.push(...apiWrites);
  const has = (privilege: string) =>
    catalog.privileges[privilege.toLowerCase() as keyof SourceTableCatalog['privileges']];
  const missing = needed.filter((need) => !has(need.privilege));
  if (missing.length > 0)
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegeSourceTable,
      object: table,
      collection,
      message: `role "${database.role}" lacks ${missing.map((need) => `${need.privilege} on ${table} (${need.why})`).join(', ')}`,
      hint: `GRANT ${missing.map((need) => need.privilege).join(', ')} ON ${table} TO ${role}`,
    });
  const apiMissing = mode === 'dual-write' ? [] : apiWrites.filter((need) => !has(need.privilege));
  if (apiMissing.length > 0)
    findings.push({
      severity: 'info',
      code: CheckCode.PrivilegeSourceTable,
      object: table,
      collection,
      message: `role "${database.role}" lacks ${apiMissing.map((need) => need.privilege).join(', ')} on ${table}: the documents API cannot write this collection (fine if only your application writes the table)`,
      hint: `GRANT ${apiMissing.map((need) => need.privilege).join(', ')} ON ${table} TO ${role}`,
    });

  const ownerWork = [
    ...(mode === 'outbox' ? ['install the outbox capture triggers'] : []),
    ...(collectionConfig.manageVersion ? ['install the version trigger (manageVersion)'] : []),
    ...(mode === 'cdc' ? [`add it to publication "${config.cdc.publication}"`] : []),
  ];
  if (ownerWork.length > 0 && !catalog.ownedByCurrentRole) {
    const triggers = mode === 'outbox' || collectionConfig.manageVersion;
    findings.push({
      severity: 'error',
      code: CheckCode.PrivilegeTableOwner,
      object: table,
      collection,
      message: `role "${database.role}" does not own ${table} (owner: "${catalog.owner}"); setup needs its owner to ${ownerWork.join(' and ')}${triggers ? ' (the TRIGGER privilege is not enough: setup replaces its triggers, and only the owner may drop a trigger)' : ''}`,
      hint: `run setup as "${catalog.owner}", or GRANT ${quoteIdent(catalog.owner)} TO ${role}`,
    });
  }

  if (mode === 'cdc') {
    const hasPrimaryKey = catalog.uniqueKeys.some((key) => key.primary);
    if (catalog.replicaIdentity === 'n' || (catalog.replicaIdentity === 'd' && !hasPrimaryKey))
      findings.push({
        severity: 'error',
        code: CheckCode.ReplicaIdentityMissing,
        object: table,
        collection,
        message: `${table} has replica identity ${catalog.replicaIdentity === 'n' ? 'NOTHING' : 'DEFAULT without a primary key'}: a DELETE streams without the deleted row's key, so deletes cannot be applied (Postgres also refuses UPDATE and DELETE on a published table without one)`,
        hint: `ALTER TABLE ${table} REPLICA IDENTITY USING INDEX <a unique index over the key>, or add a primary key`,
      });
  }
  return findings;
}
