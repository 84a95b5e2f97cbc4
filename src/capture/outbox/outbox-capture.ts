import type { CollectionDefinition } from '../../config/collection-definition.js';
import type { SqlExecutor } from '../../db/database.js';
import { dollarQuote, quoteIdent } from '../../db/sql-identifier.js';
import { enqueueRelationSql, enqueueTruncateSql } from '../../outbox/enqueue-many.js';

/**
 * Capture for the outbox mode: statement-level AFTER triggers with transition tables write
 * one outbox row per changed source row in the same transaction as the change, so an event
 * exists if and only if the write committed, whether it came from the API, the application
 * or psql. Statement-level keeps bulk writes (COPY, INSERT … SELECT) to one call of
 * vectorsync.enqueue_many per 100,000 rows, the outbox's one entry point.
 */
export function captureFunctionName(collection: string): string {
  return `vectorsync.${quoteIdent(`capture_${collection}`)}`;
}

function triggerName(collection: string, suffix: string): string {
  return quoteIdent(`vectorsync_${collection}_${suffix}`);
}

export function captureSql(definition: CollectionDefinition): string[] {
  const sameKey = definition.keyColumns
    .map((column) => `n.${quoteIdent(column.name)} = o.${quoteIdent(column.name)}`)
    .join(' AND ');
  const tenant = quoteIdent(definition.tenantColumn.name);
  const enqueue = (alias: 'n' | 'o', op: 'upsert' | 'delete', where?: string) =>
    `PERFORM 1 FROM (${enqueueRelationSql({
      definition,
      relation: alias === 'n' ? 'new_rows' : 'old_rows',
      alias,
      op,
      origin: 'trigger',
      where,
    })}) e;`;
  const fn = captureFunctionName(definition.name);
  // The entry point notifies the workers, once per statement that queued anything.
  const plpgsql = `
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${enqueue('n', 'upsert')}
  ELSIF TG_OP = 'UPDATE' THEN
    -- A row whose key or tenant changed leaves its old canonical key behind: delete it.
    ${enqueue('o', 'delete', `WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE ${sameKey} AND n.${tenant} IS NOT DISTINCT FROM o.${tenant})`)}
    ${enqueue('n', 'upsert')}
  ELSIF TG_OP = 'DELETE' THEN
    ${enqueue('o', 'delete')}
  ELSIF TG_OP = 'TRUNCATE' THEN
    PERFORM 1 FROM (${enqueueTruncateSql(definition.name, 'trigger')}) e;
  END IF;
  RETURN NULL;
END
`;
  const body = `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuote(plpgsql, 'capture')};`;
  const table = definition.tableSql;
  const statements = [body];
  const triggers: Array<[string, string]> = [
    ['ins', `AFTER INSERT ON ${table} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT`],
    [
      'upd',
      `AFTER UPDATE ON ${table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT`,
    ],
    ['del', `AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT`],
    ['trunc', `AFTER TRUNCATE ON ${table} FOR EACH STATEMENT`],
  ];
  for (const [suffix, when] of triggers) {
    statements.push(`DROP TRIGGER IF EXISTS ${triggerName(definition.name, suffix)} ON ${table}`);
    statements.push(
      `CREATE TRIGGER ${triggerName(definition.name, suffix)} ${when} EXECUTE FUNCTION ${fn}()`,
    );
  }
  return statements;
}

/** Installs (or re-installs, idempotently) capture for a collection. Run inside a transaction. */
export async function installOutboxCapture(tx: SqlExecutor, definition: CollectionDefinition): Promise<void> {
  for (const statement of captureSql(definition)) await tx.query(statement);
}

export async function removeOutboxCapture(tx: SqlExecutor, definition: CollectionDefinition): Promise<void> {
  for (const suffix of ['ins', 'upd', 'del', 'trunc']) {
    await tx.query(
      `DROP TRIGGER IF EXISTS ${triggerName(definition.name, suffix)} ON ${definition.tableSql}`,
    );
  }
  await tx.query(`DROP FUNCTION IF EXISTS ${captureFunctionName(definition.name)}()`);
}

/** True when all four capture triggers exist on the source table. */
export async function isOutboxCaptureInstalled(
  db: SqlExecutor,
  definition: CollectionDefinition,
): Promise<boolean> {
  const result = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM pg_trigger t
      WHERE t.tgrelid = $1::regclass AND t.tgname = ANY($2::text[]) AND NOT t.tgisinternal`,
    [
      definition.tableSql,
      ['ins', 'upd', 'del', 'trunc'].map((suffix) => `vectorsync_${definition.name}_${suffix}`),
    ],
  );
  return result.rows[0]?.count === 4;
}
