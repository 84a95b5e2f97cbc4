import { loadCollectionDefinitions } from '../config/collection-definition.js';
import type { ResolvedConfig } from '../config/resolve-config.js';
import type { SqlExecutor } from '../db/database.js';
import { readMigrationState } from '../db/migrator.js';
import { parseQualifiedName, type QualifiedName } from '../db/sql-identifier.js';
import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { ErrorCode, isVectorsyncError } from '../errors.js';
import { liveIndexes } from '../index-versions/index-catalog.js';
import { CheckCode, type CheckFinding, type CheckReport, checkReport } from './check-finding.js';
import { readCdcObjects, readDatabaseCatalog } from './database-catalog.js';
import { migrationFindings } from './migration-findings.js';
import { missingTableFinding } from './missing-table-finding.js';
import { privilegeFindings } from './privilege-findings.js';
import { readSourceTableCatalog, type SourceTableCatalog } from './source-table-catalog.js';
import { sourceTableFindings } from './source-table-findings.js';

export interface CollectionSummary {
  collection: string;
  table: string;
  mode: string;
  store: string;
  embedder: string;
  /** The active index's location; undefined before setup. */
  index?: string;
}

export interface CheckResult extends CheckReport {
  role: string;
  database: string;
  collections: CollectionSummary[];
}

/**
 * Checks a resolved config against its database without changing anything: migrations,
 * each collection's table, and the privileges the configured modes need. It never refuses
 * (a fresh database is fine); everything it finds is a finding with a severity.
 */
export async function runCheck(db: SqlExecutor, config: ResolvedConfig): Promise<CheckResult> {
  const findings: CheckFinding[] = [];
  const database = await readDatabaseCatalog(db);
  const migrations = await ifPermitted(() => readMigrationState(db));
  if (migrations) findings.push(...migrationFindings(migrations, database.database));
  const installed = migrations !== undefined && migrations.pending.length === 0;

  const tables = new Map<string, SourceTableCatalog>();
  const collections: CollectionSummary[] = [];
  for (const [name, collection] of Object.entries(config.collections)) {
    const summary: CollectionSummary = {
      collection: name,
      table: collection.table,
      mode: collection.sync.mode,
      store: collection.store,
      embedder: collection.embedder,
    };
    collections.push(summary);
    let table: QualifiedName;
    try {
      table = parseQualifiedName(collection.table);
    } catch (error) {
      findings.push(mismatch(name, `collections.${name}.table`, (error as Error).message));
      continue;
    }
    const catalog = await readSourceTableCatalog(db, table);
    if (!catalog) {
      findings.push(await missingTableFinding(db, name, table));
      continue;
    }
    tables.set(name, catalog);
    findings.push(...(await definitionFindings(db, name, collection)));
    findings.push(...sourceTableFindings(name, collection, catalog));
    if (installed) {
      const live = await ifPermitted(() => liveIndexes(db, name));
      const active = live?.find((record) => record.state === 'active');
      if (active) summary.index = active.location;
      else if (live)
        findings.push({
          severity: 'info',
          code: CheckCode.IndexNotBuilt,
          object: `collections.${name}`,
          collection: name,
          message: `collection "${name}" has no index yet: searches answer INDEX_NOT_FOUND`,
          hint: '`vectorsync setup` creates it and backfills it from the table',
        });
    }
  }

  const cdc = Object.values(config.collections).some((collection) => collection.sync.mode === 'cdc')
    ? await readCdcObjects(db, config.cdc.publication, config.cdc.slot)
    : { slotExists: false };
  findings.push(...privilegeFindings({ config, database, tables, cdc }));
  for (const [name, store] of Object.entries(config.stores)) {
    if (store.provider === 'pgvector' && store.databaseUrl)
      findings.push({
        severity: 'info',
        code: CheckCode.NotChecked,
        object: `stores.${name}`,
        message: `store "${name}" keeps its vectors in another database; check looked at the source database only (that one needs the vector extension and CREATE on schema vectorsync)`,
      });
  }
  return { ...checkReport(findings), role: database.role, database: database.database, collections };
}

/** The collection definition's own validation (columns, types), one finding per problem. */
async function definitionFindings(
  db: SqlExecutor,
  name: string,
  collection: ResolvedConfig['collections'][string],
): Promise<CheckFinding[]> {
  try {
    await loadCollectionDefinitions(db, { collections: { [name]: collection } });
    return [];
  } catch (error) {
    if (!isVectorsyncError(error, ErrorCode.ConfigInvalid)) throw error;
    const problems = (error.details.problems as string[] | undefined) ?? [error.message];
    return problems.map((problem) => {
      const separator = problem.indexOf(': ');
      return separator > 0
        ? mismatch(name, problem.slice(0, separator), problem.slice(separator + 2))
        : mismatch(name, `collections.${name}`, problem);
    });
  }
}

function mismatch(collection: string, object: string, message: string): CheckFinding {
  return { severity: 'error', code: CheckCode.CollectionMismatch, object, collection, message };
}

/** Runs a read that a role without privileges on vectorsync's tables cannot make (a finding names that). */
async function ifPermitted<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (sqlStateOf(error) === SqlState.InsufficientPrivilege) return undefined;
    throw error;
  }
}
