import type { SqlExecutor } from '../db/database.js';
import { parseQualifiedName, type QualifiedName, qualified } from '../db/sql-identifier.js';
import { type ColumnInfo, describeTable, type TableInfo } from '../db/table-introspection.js';
import type { NestedRelationConfig, RelationConfig } from './config-schema.js';
import { didYouMean } from './did-you-mean.js';

/** A related table checked against the live schema: how its rows join their owner's. */
export interface RelationDefinition {
  readonly name: string;
  /** From the source table: `brand`, `category.parent`. */
  readonly path: string;
  readonly kind: 'one' | 'many';
  readonly table: QualifiedName;
  readonly tableSql: string;
  readonly tableInfo: TableInfo;
  /** The owner's side of the join: a column of the source table or of the parent relation. */
  readonly ownerColumn: ColumnInfo;
  /** This table's side of the join. */
  readonly relatedColumn: ColumnInfo;
  /** Row order of lists: the configured columns, then the table's key (so a list never flaps). */
  readonly orderBy: ReadonlyArray<{ column: string; descending: boolean }>;
  readonly limit: number;
  /** The relation this one hangs off; undefined for a relation of the source table. */
  readonly parent: RelationDefinition | undefined;
  readonly relations: ReadonlyMap<string, RelationDefinition>;
}

/** The table a relation's owner lives in: the source table, or the parent relation's. */
export interface RelationOwner {
  readonly table: QualifiedName;
  readonly tableInfo: TableInfo;
  /** The owner's single key column, the default `references` of a `many` relation. */
  readonly keyColumn: ColumnInfo | undefined;
}

const integerTypes = new Set(['int2', 'int4', 'int8']);
const textTypes = new Set(['text', 'varchar', 'bpchar', 'name']);

/** Resolves a collection's relations; problems are collected, not thrown, like the columns'. */
export async function defineRelations(
  db: SqlExecutor,
  at: string,
  configs: Readonly<Record<string, RelationConfig | NestedRelationConfig>>,
  owner: RelationOwner,
  parent: RelationDefinition | undefined,
  problems: string[],
): Promise<Map<string, RelationDefinition>> {
  const relations = new Map<string, RelationDefinition>();
  for (const [name, config] of Object.entries(configs)) {
    const relation = await defineRelation(db, `${at}.${name}`, name, config, owner, parent, problems);
    if (relation) relations.set(name, relation);
  }
  return relations;
}

async function defineRelation(
  db: SqlExecutor,
  at: string,
  name: string,
  config: RelationConfig | NestedRelationConfig,
  owner: RelationOwner,
  parent: RelationDefinition | undefined,
  problems: string[],
): Promise<RelationDefinition | undefined> {
  let table: QualifiedName;
  try {
    table = parseQualifiedName(config.table);
  } catch (error) {
    problems.push(`${at}.table: ${(error as Error).message}`);
    return undefined;
  }
  const info = await describeTable(db, table);
  if (!info) {
    problems.push(`${at}.table: table ${table.schema}.${table.name} does not exist`);
    return undefined;
  }
  const before = problems.length;
  const column = (key: string, where: TableInfo, columnName: string): ColumnInfo | undefined => {
    const found = where.columns.get(columnName);
    if (!found)
      problems.push(
        `${at}.${key}: column "${columnName}" does not exist in ${where.name.schema}.${where.name.name}${didYouMean(columnName, where.columns.keys())}`,
      );
    return found;
  };
  const tableKey = info.primaryKey.length === 1 ? info.columns.get(info.primaryKey[0]!) : undefined;
  let ownerColumn: ColumnInfo | undefined;
  let relatedColumn: ColumnInfo | undefined;
  if (config.kind === 'one') {
    ownerColumn = column('foreignKey', owner.tableInfo, config.foreignKey);
    relatedColumn = config.references ? column('references', info, config.references) : tableKey;
    if (!config.references && !tableKey)
      problems.push(
        `${at}.references: ${table.schema}.${table.name} has no single-column primary key; name the column "${config.foreignKey}" references`,
      );
    if (relatedColumn && !info.uniqueColumns.has(relatedColumn.name))
      problems.push(
        `${at}.references: column "${relatedColumn.name}" is not unique in ${table.schema}.${table.name}, so a row could have several; make it the primary key or unique, or declare the relation as "many"`,
      );
  } else {
    relatedColumn = column('foreignKey', info, config.foreignKey);
    ownerColumn = config.references
      ? column('references', owner.tableInfo, config.references)
      : owner.keyColumn;
    // A column that is not unique in the owner would join one owner's rows into another's
    // (with a tenant-and-id key: another tenant's).
    if (config.references && ownerColumn && !owner.tableInfo.uniqueColumns.has(ownerColumn.name))
      problems.push(
        `${at}.references: column "${ownerColumn.name}" is not unique in ${owner.table.schema}.${owner.table.name}, so its rows would join into several documents (of any tenant); reference a unique column`,
      );
    if (!config.references && !owner.keyColumn)
      problems.push(
        `${at}.references: ${owner.table.schema}.${owner.table.name} has no single-column key; name the column that "${config.foreignKey}" references`,
      );
    // Lists must come out in the same order on every read, or the document's hash would flap.
    if (info.primaryKey.length === 0)
      problems.push(
        `${at}.table: ${table.schema}.${table.name} has no primary key; a "many" relation needs one to order its rows the same way on every read`,
      );
  }
  if (ownerColumn && relatedColumn && [ownerColumn, relatedColumn].some((c) => c.baseType === 'citext'))
    problems.push(
      `${at}: citext join columns are not supported (the capture triggers compare with pg_catalog's operators); join on text or an integer`,
    );
  else if (ownerColumn && relatedColumn && !comparable(ownerColumn, relatedColumn))
    problems.push(
      `${at}: "${ownerColumn.name}" (${ownerColumn.type}) and "${relatedColumn.name}" (${relatedColumn.type}) cannot be joined: their types differ`,
    );
  const orderBy = config.orderBy.map((entry) => {
    const [columnName, direction] = entry.trim().split(/\s+/);
    column('orderBy', info, columnName!);
    return { column: columnName!, descending: direction?.toLowerCase() === 'desc' };
  });
  for (const keyColumn of info.primaryKey)
    if (!orderBy.some((entry) => entry.column === keyColumn))
      orderBy.push({ column: keyColumn, descending: false });
  if (problems.length > before || !ownerColumn || !relatedColumn) return undefined;

  const path = parent ? `${parent.path}.${name}` : name;
  const children = new Map<string, RelationDefinition>();
  const relation: RelationDefinition = {
    name,
    path,
    kind: config.kind,
    table,
    tableSql: qualified(table),
    tableInfo: info,
    ownerColumn,
    relatedColumn,
    orderBy,
    limit: config.limit,
    parent,
    relations: children,
  };
  if ('relations' in config) {
    const nested = await defineRelations(
      db,
      `${at}.relations`,
      config.relations,
      { table, tableInfo: info, keyColumn: tableKey },
      relation,
      problems,
    );
    for (const [childName, child] of nested) children.set(childName, child);
  }
  return Object.freeze(relation);
}

function comparable(a: ColumnInfo, b: ColumnInfo): boolean {
  if (a.baseType === b.baseType) return true;
  if (integerTypes.has(a.baseType) && integerTypes.has(b.baseType)) return true;
  return textTypes.has(a.baseType) && textTypes.has(b.baseType);
}

/** Every relation of the tree, parents before their children. */
export function allRelations(relations: ReadonlyMap<string, RelationDefinition>): RelationDefinition[] {
  const all: RelationDefinition[] = [];
  for (const relation of relations.values()) all.push(relation, ...allRelations(relation.relations));
  return all;
}

/** The relations from the source table down to `relation`. */
export function relationChain(relation: RelationDefinition): RelationDefinition[] {
  const chain: RelationDefinition[] = [];
  for (let at: RelationDefinition | undefined = relation; at; at = at.parent) chain.unshift(at);
  return chain;
}
