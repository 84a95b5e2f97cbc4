import type { CollectionDefinition } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { dollarQuote, quoteIdent } from '../db/sql-identifier.js';

/**
 * With `manageVersion`, a BEFORE trigger stamps every inserted or updated row with the next
 * value of one global sequence, in every sync mode: the version guard needs a number that
 * grows with each change of a row, and the applier re-reads rows, so the version must live in
 * the row (a CDC commit LSN would not survive the re-read).
 */
export async function installVersionTrigger(
  tx: SqlExecutor,
  definition: CollectionDefinition,
): Promise<void> {
  const versionFn = versionFunctionName(definition.name);
  const trigger = quoteIdent(versionTriggerName(definition.name));
  const body = `
BEGIN
  NEW.${quoteIdent(definition.versionColumn.name)} := nextval('vectorsync.row_version');
  RETURN NEW;
END
`;
  await tx.query(
    `CREATE OR REPLACE FUNCTION ${versionFn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuote(body, 'version')};`,
  );
  await tx.query(`DROP TRIGGER IF EXISTS ${trigger} ON ${definition.tableSql}`);
  await tx.query(
    `CREATE TRIGGER ${trigger} BEFORE INSERT OR UPDATE ON ${definition.tableSql} FOR EACH ROW EXECUTE FUNCTION ${versionFn}()`,
  );
}

export async function removeVersionTrigger(tx: SqlExecutor, definition: CollectionDefinition): Promise<void> {
  await tx.query(
    `DROP TRIGGER IF EXISTS ${quoteIdent(versionTriggerName(definition.name))} ON ${definition.tableSql}`,
  );
  await tx.query(`DROP FUNCTION IF EXISTS ${versionFunctionName(definition.name)}()`);
}

/** The trigger's name on the source table (`vectorsync check` looks for it). */
export function versionTriggerName(collection: string): string {
  return `vectorsync_${collection}_version`;
}

function versionFunctionName(collection: string): string {
  return `vectorsync.${quoteIdent(`version_${collection}`)}`;
}
