import { didYouMean } from '../config/did-you-mean.js';
import type { SqlExecutor } from '../db/database.js';
import type { QualifiedName } from '../db/sql-identifier.js';
import { CheckCode, type CheckFinding } from './check-finding.js';

/** The collection's table does not exist; a near miss among the schema's tables is suggested. */
export async function missingTableFinding(
  db: SqlExecutor,
  collection: string,
  table: QualifiedName,
): Promise<CheckFinding> {
  const tables = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
    [table.schema],
  );
  return {
    severity: 'error',
    code: CheckCode.SourceTableNotFound,
    object: `collections.${collection}.table`,
    collection,
    message: `table ${table.schema}.${table.name} does not exist${didYouMean(
      table.name,
      tables.rows.map((row) => row.name),
    )}`,
    hint: `create the table, or point collections.${collection}.table at an existing one`,
  };
}
