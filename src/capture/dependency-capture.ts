import { createHash } from 'node:crypto';
import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression } from '../config/collection-definition.js';
import type { RelationDefinition } from '../config/relation-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { dollarQuote, quoteIdent, quoteLiteral } from '../db/sql-identifier.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { enqueueRelationSql } from '../outbox/enqueue-many.js';
import { keyTupleSql } from '../pipeline/source-key-sql.js';

/**
 * Dependency capture: statement-level triggers on the tables of a collection's relations map
 * the rows a statement changed to the documents they are part of, in bulk, inside the writing
 * transaction. Each such document's revision goes up by one (its version moves forward, so the
 * version guard still orders every state of it), and, unless the collection streams by CDC
 * (which reads the revisions table from the WAL), an upsert is queued for it. A brand renamed
 * under 10,000 products re-indexes those 10,000 products: the mapping follows the joins, and an
 * update that leaves every column the documents read as it was maps to nothing.
 */

/** Where each related table's rows enter the documents: the relations read from it. */
interface DependencyTable {
  tableSql: string;
  relations: RelationDefinition[];
  /** Its columns the documents read (joins, fields, order); an update of others changes nothing. */
  columns: string[];
  primaryKey: readonly string[];
}

/** The relations some field reads through, grouped by table. */
export function dependencyTables(definition: CollectionDefinition): DependencyTable[] {
  const used = new Map<RelationDefinition, Set<string>>();
  for (const field of definition.relationFields) {
    field.relations.forEach((relation, index) => {
      const columns = used.get(relation) ?? new Set<string>();
      used.set(relation, columns);
      columns.add(relation.relatedColumn.name);
      for (const entry of relation.orderBy) columns.add(entry.column);
      const next = field.relations[index + 1];
      if (next) columns.add(next.ownerColumn.name);
      else if (field.column) columns.add(field.column.name);
    });
  }
  const byTable = new Map<string, DependencyTable>();
  for (const [relation, columns] of used) {
    const table = byTable.get(relation.tableSql) ?? {
      tableSql: relation.tableSql,
      relations: [],
      columns: [],
      primaryKey: relation.tableInfo.primaryKey,
    };
    byTable.set(relation.tableSql, table);
    table.relations.push(relation);
    for (const column of columns) if (!table.columns.includes(column)) table.columns.push(column);
  }
  return [...byTable.values()];
}

/** Rows of the relation's owner table (source or parent relation) that these rows belong to. */
function ownerRowsSql(definition: CollectionDefinition, relation: RelationDefinition, rows: string): string {
  const owner = relation.parent?.tableSql ?? definition.tableSql;
  return `SELECT o.* FROM ${owner} o WHERE o.${quoteIdent(relation.ownerColumn.name)} IN (SELECT x.${quoteIdent(relation.relatedColumn.name)} FROM (${rows}) x)`;
}

/** Source rows that the rows `rows` of the relation's table belong to, up the chain. */
function sourceRowsSql(definition: CollectionDefinition, relation: RelationDefinition, rows: string): string {
  const owners = ownerRowsSql(definition, relation, rows);
  return relation.parent ? sourceRowsSql(definition, relation.parent, owners) : owners;
}

/** The source rows whose documents include any of `changed` (rows of the dependency table). */
export function affectedSourceRowsSql(
  definition: CollectionDefinition,
  table: DependencyTable,
  changed: string,
): string {
  const keys = definition.keyColumns.map((column) => `r.${quoteIdent(column.name)}`).join(', ');
  const paths = table.relations
    .map((relation) => `SELECT ${keys} FROM (${sourceRowsSql(definition, relation, changed)}) r`)
    .join(' UNION ALL ');
  return `SELECT s.* FROM ${definition.tableSql} s WHERE ${keyTupleSql(definition, 's')} IN (${paths})`;
}

/**
 * The rows of an UPDATE that matter: with a primary key to pair old and new rows, only those
 * whose read columns changed (old and new both, since either may have been part of a document);
 * without one, every row.
 */
function updatedRowsSql(table: DependencyTable): string {
  if (table.primaryKey.length === 0) return 'SELECT * FROM new_rows UNION ALL SELECT * FROM old_rows';
  const same = (a: string, b: string) =>
    [
      ...table.primaryKey.map((column) => `${a}.${quoteIdent(column)} = ${b}.${quoteIdent(column)}`),
      // As text: every type has a text form, not every type an equality operator (json).
      ...table.columns.map(
        (column) => `${a}.${quoteIdent(column)}::text IS NOT DISTINCT FROM ${b}.${quoteIdent(column)}::text`,
      ),
    ].join(' AND ');
  return `SELECT n.* FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE ${same('o', 'n')})
          UNION ALL SELECT o.* FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE ${same('n', 'o')})`;
}

/**
 * A change two hops down under a `one` relation (a brand's aliases) reaches its documents
 * through rows it does not write (the brands): those are locked, so that a writer pointing a
 * document at one of them (which pins it, see pinFunctionSql) waits for this transaction, or
 * this one for it, and whichever commits second sees the other.
 */
function parentLocksSql(table: DependencyTable, changed: string): string[] {
  return table.relations
    .filter((relation) => relation.parent?.kind === 'one')
    .map((relation) => {
      const parent = relation.parent!;
      return `PERFORM 1 FROM ${parent.tableSql} o WHERE o.${quoteIdent(relation.ownerColumn.name)} IN (SELECT x.${quoteIdent(relation.relatedColumn.name)} FROM (${changed}) x) ORDER BY o.${quoteIdent(parent.relatedColumn.name)} FOR NO KEY UPDATE OF o;`;
    });
}

/** The `one` relations some field reads through, by the table of their owner (source or parent). */
function pinnedRelations(definition: CollectionDefinition): Array<{
  ownerTableSql: string;
  relations: RelationDefinition[];
}> {
  const used = new Set(definition.relationFields.flatMap((field) => field.relations));
  const byOwner = new Map<string, { ownerTableSql: string; relations: RelationDefinition[] }>();
  for (const relation of used) {
    if (relation.kind !== 'one') continue;
    const ownerTableSql = relation.parent?.tableSql ?? definition.tableSql;
    const entry = byOwner.get(ownerTableSql) ?? {
      ownerTableSql,
      relations: [],
    };
    byOwner.set(ownerTableSql, entry);
    entry.relations.push(relation);
  }
  return [...byOwner.values()];
}

/**
 * The pin trigger of a table whose rows reference `one` relations (products → brands): rows
 * inserted, or whose reference changed, lock the rows they now reference FOR SHARE. A change
 * to such a row (a brand renamed) holds a row lock that conflicts, so of two concurrent
 * transactions, one renaming a brand and one pointing a product at it, the one that commits
 * second sees the other: the rename's trigger finds the product, or the product's re-index
 * reads the new name. Without it, the rename's trigger could miss the product while the
 * product's re-index read the old name, and nothing would fix the document.
 */
function pinFunctionSql(
  definition: CollectionDefinition,
  owner: ReturnType<typeof pinnedRelations>[number],
): string {
  const pin = (rows: (relation: RelationDefinition) => string) =>
    owner.relations
      .map(
        (relation) =>
          `PERFORM 1 FROM ${relation.tableSql} r WHERE r.${quoteIdent(relation.relatedColumn.name)} IN (${rows(relation)}) ORDER BY r.${quoteIdent(relation.relatedColumn.name)} FOR SHARE OF r;`,
      )
      .join('\n    ');
  // Every updated row, not only those whose reference changed: a row whose link to its own
  // parent moved (a variant to another product) brings its reference into other documents.
  const changedReference = (relation: RelationDefinition) =>
    `SELECT n.${quoteIdent(relation.ownerColumn.name)} FROM new_rows n`;
  const body = `
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${pin((relation) => `SELECT n.${quoteIdent(relation.ownerColumn.name)} FROM new_rows n`)}
  ELSIF TG_OP = 'UPDATE' THEN
    ${pin(changedReference)}
  END IF;
  RETURN NULL;
END
`;
  return `CREATE OR REPLACE FUNCTION ${pinFunctionName(definition.name, owner.ownerTableSql)}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${dollarQuote(body, 'pin')};`;
}

function pinFunctionName(collection: string, ownerTableSql: string): string {
  return `vectorsync.${quoteIdent(`${functionPrefix(collection)}${tableHash(ownerTableSql)}:pin`)}`;
}

/** Adds one to the revision of each affected document, in id order (concurrent bumps lock alike). */
function bumpSql(definition: CollectionDefinition, affected: string): string {
  return `INSERT INTO vectorsync.document_revisions AS r (collection, id, revision)
    SELECT ${quoteLiteral(definition.name)}, a.id, 1 FROM (SELECT ${idExpression(definition, 'a')} AS id FROM (${affected}) a) a ORDER BY a.id
    ON CONFLICT (collection, id) DO UPDATE SET revision = r.revision + 1`;
}

function tableHash(tableSql: string): string {
  return createHash('sha256').update(tableSql).digest('hex').slice(0, 8);
}

/**
 * Names carry the collection between colons, which a collection name cannot contain: the
 * prefix of one collection is never the prefix of another's ("products" and "products_eu").
 * At most 63 bytes (Postgres' limit) with the longest names: `vsdep:<40>:<8>:pin_ins`.
 */
function triggerPrefix(collection: string): string {
  return `vsdep:${collection}:`;
}

function functionPrefix(collection: string): string {
  return `deps:${collection}:`;
}

function functionName(collection: string, table: DependencyTable): string {
  return `vectorsync.${quoteIdent(`${functionPrefix(collection)}${tableHash(table.tableSql)}`)}`;
}

/** The trigger function of one dependency table; `enqueue`: queue the affected documents too. */
export function dependencyFunctionSql(
  definition: CollectionDefinition,
  table: DependencyTable,
  enqueue: boolean,
): string {
  /** `changed` null: every document (a TRUNCATE). */
  const apply = (changed: string | null) => {
    const affected =
      changed === null
        ? `SELECT s.* FROM ${definition.tableSql} s`
        : affectedSourceRowsSql(definition, table, changed);
    const statements = changed === null ? [] : parentLocksSql(table, changed);
    statements.push(`${bumpSql(definition, affected)};`);
    // A second statement, so the versions it queues include the revisions just bumped.
    if (enqueue)
      statements.push(
        `PERFORM 1 FROM (${enqueueRelationSql({ definition, relation: `(${affected})`, alias: 'a', op: 'upsert', origin: 'trigger' })}) e;`,
      );
    return statements.join('\n    ');
  };
  const body = `
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${apply('SELECT * FROM new_rows')}
  ELSIF TG_OP = 'UPDATE' THEN
    ${apply(updatedRowsSql(table))}
  ELSIF TG_OP = 'DELETE' THEN
    ${apply('SELECT * FROM old_rows')}
  ELSIF TG_OP = 'TRUNCATE' THEN
    -- Every document may have lost a part.
    ${apply(null)}
  END IF;
  RETURN NULL;
END
`;
  // SECURITY DEFINER: the application's role writes its tables, not vectorsync's.
  return `CREATE OR REPLACE FUNCTION ${functionName(definition.name, table)}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${dollarQuote(body, 'deps')};`;
}

/**
 * Installs the dependency triggers of a collection (idempotently), after removing any it had:
 * a relation taken out of the config leaves no trigger behind. Run inside setup's transaction.
 */
export async function installDependencyCapture(
  tx: SqlExecutor,
  definition: CollectionDefinition,
  options: { enqueue: boolean },
): Promise<void> {
  await removeDependencyCapture(tx, definition.name);
  await assertCanLock(tx, definition);
  for (const owner of pinnedRelations(definition)) {
    await tx.query(pinFunctionSql(definition, owner));
    const name = (suffix: string) =>
      quoteIdent(`${triggerPrefix(definition.name)}${tableHash(owner.ownerTableSql)}:${suffix}`);
    const fn = pinFunctionName(definition.name, owner.ownerTableSql);
    await tx.query(
      `CREATE TRIGGER ${name('pin_ins')} AFTER INSERT ON ${owner.ownerTableSql} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    );
    await tx.query(
      `CREATE TRIGGER ${name('pin_upd')} AFTER UPDATE ON ${owner.ownerTableSql} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    );
  }
  for (const table of dependencyTables(definition)) {
    await tx.query(dependencyFunctionSql(definition, table, options.enqueue));
    const fn = functionName(definition.name, table);
    const name = (suffix: string) =>
      quoteIdent(`${triggerPrefix(definition.name)}${tableHash(table.tableSql)}:${suffix}`);
    const triggers: Array<[string, string]> = [
      ['ins', `AFTER INSERT ON ${table.tableSql} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT`],
      [
        'upd',
        `AFTER UPDATE ON ${table.tableSql} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT`,
      ],
      ['del', `AFTER DELETE ON ${table.tableSql} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT`],
      ['trunc', `AFTER TRUNCATE ON ${table.tableSql} FOR EACH STATEMENT`],
    ];
    for (const [suffix, when] of triggers)
      await tx.query(`CREATE TRIGGER ${name(suffix)} ${when} EXECUTE FUNCTION ${fn}()`);
  }
}

/**
 * The triggers lock rows of the related tables (FOR SHARE, FOR NO KEY UPDATE), which Postgres
 * allows only to a role with UPDATE on them: setup refuses early rather than let the
 * application's writes fail in a trigger.
 */
async function assertCanLock(tx: SqlExecutor, definition: CollectionDefinition): Promise<void> {
  const tables = new Set<string>();
  for (const owner of pinnedRelations(definition))
    for (const relation of owner.relations) tables.add(relation.tableSql);
  for (const table of dependencyTables(definition))
    for (const relation of table.relations)
      if (relation.parent?.kind === 'one') tables.add(relation.parent.tableSql);
  if (tables.size === 0) return;
  const result = await tx.query<{ table: string }>(
    `SELECT t AS table FROM unnest($1::text[]) AS t WHERE NOT has_any_column_privilege(t, 'UPDATE')`,
    [[...tables]],
  );
  if (result.rows.length > 0) {
    const missing = result.rows.map((row) => row.table);
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `collections.${definition.name}.relations: the role running setup needs UPDATE on ${missing.join(', ')}: its capture triggers lock referenced rows (FOR SHARE) so that concurrent changes are never missed; they never write them`,
      { details: { collection: definition.name, tables: missing } },
    );
  }
}

/** Drops every dependency trigger and function of a collection, on whichever tables they are. */
export async function removeDependencyCapture(tx: SqlExecutor, collection: string): Promise<void> {
  const prefix = triggerPrefix(collection);
  const triggers = await tx.query<{ name: string; tableSql: string }>(
    `SELECT t.tgname AS name, t.tgrelid::regclass::text AS "tableSql" FROM pg_trigger t
      WHERE starts_with(t.tgname, $1) AND NOT t.tgisinternal`,
    [prefix],
  );
  for (const trigger of triggers.rows)
    await tx.query(`DROP TRIGGER IF EXISTS ${quoteIdent(trigger.name)} ON ${trigger.tableSql}`);
  const functions = await tx.query<{ name: string }>(
    `SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'vectorsync' AND starts_with(p.proname, $1)`,
    [functionPrefix(collection)],
  );
  for (const fn of functions.rows)
    await tx.query(`DROP FUNCTION IF EXISTS vectorsync.${quoteIdent(fn.name)}()`);
}
