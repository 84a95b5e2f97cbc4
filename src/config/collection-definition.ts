import { type Chunker, createChunker } from '../chunking/chunker.js';
import type { SqlExecutor } from '../db/database.js';
import {
  parseQualifiedName,
  type QualifiedName,
  qualified,
  quoteIdent,
  quoteLiteral,
} from '../db/sql-identifier.js';
import { type ColumnInfo, describeTable, type TableInfo } from '../db/table-introspection.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { canonicalIdSql } from '../pipeline/canonical-id.js';
import type { CollectionConfig, PayloadEntry, VectorsyncConfig } from './config-schema.js';
import { didYouMean } from './did-you-mean.js';
import { type FieldDefinition, type PayloadFieldType, resolveField } from './field-definition.js';
import { parseFieldExpression } from './field-expression.js';
import { defineRelations, type RelationDefinition } from './relation-definition.js';
import { parseTextTemplate, type TextTemplate } from './text-template.js';

export type { PayloadFieldType } from './field-definition.js';
export { payloadFieldType } from './field-definition.js';

export interface PayloadField {
  name: string;
  type: PayloadFieldType;
  /** The value's type as a column (a relation field's list reads as an array column). */
  column: ColumnInfo;
  /** Where the value is in a source row when it is not the column `name`: a field's key (`brand.name`). */
  key?: string;
}

export type VersionKind = 'integer' | 'timestamp';

/** A collection's config checked against its live source table: everything sync needs to know. */
export interface CollectionDefinition {
  readonly name: string;
  readonly config: CollectionConfig;
  readonly table: QualifiedName;
  /** The quoted, schema-qualified table name, safe to splice into SQL. */
  readonly tableSql: string;
  readonly tableInfo: TableInfo;
  /**
   * The source key columns, in the order the canonical id lists them: one for a single-column
   * key, several for a composite one (src/pipeline/canonical-id.ts).
   */
  readonly keyColumns: readonly ColumnInfo[];
  readonly tenantColumn: ColumnInfo;
  readonly versionColumn: ColumnInfo;
  readonly versionKind: VersionKind;
  readonly template: TextTemplate;
  readonly keywordFields: readonly string[];
  readonly payloadFields: readonly PayloadField[];
  /** Every column of the source table the pipeline reads from a source row. */
  readonly readColumns: readonly string[];
  /** Related tables whose rows are part of each document (empty: one row, one document). */
  readonly relations: ReadonlyMap<string, RelationDefinition>;
  /** The fields read through relations, each once, by key: the source read computes them in SQL. */
  readonly relationFields: readonly FieldDefinition[];
  /** A chunked collection's splitter (docs/configuration.md#chunking). */
  readonly chunker: Chunker | undefined;
  /**
   * Versions include the document revision: the collection has relations, or had them (its
   * revisions stay, and a version must never go back when relations are taken out).
   */
  readonly revisioned: boolean;
}

const integerTypes = new Set(['int2', 'int4', 'int8', 'numeric']);
const timestampTypes = new Set(['timestamp', 'timestamptz']);

/**
 * SQL for a document's version as bigint: the row's version, plus, for a collection with
 * relations, the document's revision (sql/migrations/000012_document_revisions.sql). Timestamps
 * become microseconds since the epoch, which keeps their order and fits a bigint until the
 * year 294247.
 */
export function versionExpression(
  definition: Pick<
    CollectionDefinition,
    'name' | 'versionKind' | 'versionColumn' | 'keyColumns' | 'revisioned'
  >,
  alias: string,
): string {
  const column = `${alias}.${quoteIdent(definition.versionColumn.name)}`;
  const version =
    definition.versionKind === 'timestamp'
      ? `(floor(extract(epoch FROM ${column}) * 1000000))::bigint`
      : `(${column})::bigint`;
  if (!definition.revisioned) return version;
  return `(${version} + vectorsync.document_revision(${quoteLiteral(definition.name)}, ${idExpression(definition, alias)}))`;
}

/** SQL for a row's canonical id (text) from the key columns of the row aliased `alias`. */
export function idExpression(definition: Pick<CollectionDefinition, 'keyColumns'>, alias: string): string {
  return canonicalIdSql(definition.keyColumns.map((column) => `${alias}.${quoteIdent(column.name)}`));
}

/** The key column names as one human-readable string (`org_id, note_no`). */
export function keyColumnNames(definition: Pick<CollectionDefinition, 'keyColumns'>): string {
  return definition.keyColumns.map((column) => column.name).join(', ');
}

/**
 * Column types a composite key may have: their text form is immutable (so a generated column
 * can hold the id), the same in the stream as in SQL, and reads back as the same value.
 */
const compositeKeyTypes = new Set(['int2', 'int4', 'int8', 'numeric', 'text', 'varchar', 'uuid']);

export async function loadCollectionDefinitions(
  db: SqlExecutor,
  config: Pick<VectorsyncConfig, 'collections'>,
): Promise<Map<string, CollectionDefinition>> {
  const problems: string[] = [];
  const definitions = new Map<string, CollectionDefinition>();
  const revisioned = await revisionedCollections(db, Object.keys(config.collections));
  for (const [name, collection] of Object.entries(config.collections)) {
    const definition = await defineCollection(db, name, collection, problems, revisioned.has(name));
    if (definition) definitions.set(name, definition);
  }
  if (problems.length > 0) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `config does not match the database:\n  - ${problems.join('\n  - ')}`,
      {
        details: { problems },
      },
    );
  }
  return definitions;
}

/** Which of these collections have document revisions recorded (before migration 12: none). */
async function revisionedCollections(db: SqlExecutor, names: readonly string[]): Promise<Set<string>> {
  // From the catalog, which every role may read: `vectorsync check` runs this as a role that may
  // lack the schema (it reports that); such a role reads no revisions.
  const readable = await db.query<{ readable: boolean }>(
    `SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'vectorsync' AND c.relname = 'document_revisions'`,
  );
  if (!readable.rows[0]?.readable || names.length === 0) return new Set();
  const rows = await db.query<{ collection: string }>(
    `SELECT c AS collection FROM unnest($1::text[]) AS c
      WHERE EXISTS (SELECT 1 FROM vectorsync.document_revisions r WHERE r.collection = c)`,
    [names],
  );
  return new Set(rows.rows.map((row) => row.collection));
}

async function defineCollection(
  db: SqlExecutor,
  name: string,
  config: CollectionConfig,
  problems: string[],
  hadRevisions: boolean,
): Promise<CollectionDefinition | undefined> {
  const at = (key: string) => `collections.${name}.${key}`;
  let table: QualifiedName;
  try {
    table = parseQualifiedName(config.table);
  } catch (error) {
    problems.push(`${at('table')}: ${(error as Error).message}`);
    return undefined;
  }
  const info = await describeTable(db, table);
  if (!info) {
    problems.push(`${at('table')}: table ${table.schema}.${table.name} does not exist`);
    return undefined;
  }
  const before = problems.length;
  const column = (key: string, columnName: string): ColumnInfo | undefined => {
    const found = info.columns.get(columnName);
    if (!found)
      problems.push(
        `${key}: column "${columnName}" does not exist in ${table.schema}.${table.name}${suggest(columnName, info)}`,
      );
    return found;
  };

  const keyColumns = defineKey(at('primaryKey'), config.primaryKey, info, column, problems);
  const tenantColumn = column(at('tenantColumn'), config.tenantColumn);
  const versionColumn = column(at('versionColumn'), config.versionColumn);
  let versionKind: VersionKind = 'integer';
  if (versionColumn) {
    if (timestampTypes.has(versionColumn.baseType)) versionKind = 'timestamp';
    else if (!integerTypes.has(versionColumn.baseType)) {
      problems.push(
        `${at('versionColumn')}: column "${versionColumn.name}" has type ${versionColumn.type}; use an integer, numeric or timestamp column`,
      );
    }
    if (config.manageVersion && versionKind !== 'integer') {
      problems.push(
        `${at('manageVersion')}: needs an integer version column, "${versionColumn.name}" is ${versionColumn.type}`,
      );
    }
  }
  const relations = await defineRelations(
    db,
    at('relations'),
    config.relations,
    {
      table,
      tableInfo: info,
      keyColumn: keyColumns?.length === 1 ? keyColumns[0] : undefined,
    },
    undefined,
    problems,
  );
  const relationFields = new Map<string, FieldDefinition>();
  const readColumns = new Set<string>();
  /** Resolves a field expression; a column of the source table is read as it is. */
  const field = (key: string, text: string): FieldDefinition | undefined => {
    let resolved: FieldDefinition | undefined;
    try {
      resolved = resolveField(parseFieldExpression(text), key, info, relations, problems);
    } catch (error) {
      problems.push(`${key}: ${(error as Error).message}`);
      return undefined;
    }
    if (!resolved) return undefined;
    // Postgres cuts longer names, and the value would silently go missing from the row.
    if (resolved.relations.length > 0 && Buffer.byteLength(resolved.key) > 63) {
      problems.push(`${key}: field "${resolved.key}" is longer than 63 bytes; use shorter relation names`);
      return undefined;
    }
    if (resolved.relations.length === 0) readColumns.add(resolved.column!.name);
    else relationFields.set(resolved.key, resolved);
    return resolved;
  };
  let template: TextTemplate | undefined;
  try {
    template = parseTextTemplate(config.text);
    for (const key of template.fields) field(at('text'), key);
  } catch (error) {
    problems.push(`${at('text')}: ${(error as Error).message}`);
  }
  const keywordFields: string[] = [];
  for (const text of config.keywordFields) {
    const resolved = field(at('keywordFields'), text);
    if (resolved) keywordFields.push(resolved.key);
  }
  const payloadFields: PayloadField[] = [];
  for (const entry of config.payloadFields) {
    const payload = payloadField(at('payloadFields'), entry, field, problems);
    if (!payload) continue;
    if (payloadFields.some((existing) => existing.name === payload.name))
      problems.push(`${at('payloadFields')}: "${payload.name}" is named twice`);
    else payloadFields.push(payload);
  }
  let chunker: Chunker | undefined;
  if (config.chunking) {
    try {
      chunker = await createChunker(config.chunking);
    } catch (error) {
      problems.push(`${at('chunking')}: ${(error as Error).message}`);
    }
  }
  if (problems.length > before || !keyColumns || !tenantColumn || !versionColumn || !template)
    return undefined;

  return Object.freeze({
    name,
    config,
    table,
    tableSql: qualified(table),
    tableInfo: info,
    keyColumns,
    tenantColumn,
    versionColumn,
    versionKind,
    template,
    keywordFields,
    payloadFields,
    readColumns: [...readColumns],
    relations,
    relationFields: [...relationFields.values()],
    chunker,
    revisioned: relations.size > 0 || hadRevisions,
  });
}

/**
 * A payload entry: a column (stored under its name), or `{name, value}` for any field
 * expression. A relation path given as a bare string is refused: its payload name would be a guess.
 */
function payloadField(
  at: string,
  entry: PayloadEntry,
  field: (key: string, text: string) => FieldDefinition | undefined,
  problems: string[],
): PayloadField | undefined {
  const text = typeof entry === 'string' ? entry : entry.value;
  const name = typeof entry === 'string' ? entry : entry.name;
  if (typeof entry === 'string' && /[.|]/.test(entry)) {
    problems.push(
      `${at}: "${entry}" is not a column; name a relation field's payload key: {"name": "${entry.split(/[.|]/)[0]!.trim()}_${entry.split(/[.|]/).at(-1)!.trim()}", "value": "${entry}"}`,
    );
    return undefined;
  }
  const resolved = field(at, text);
  if (!resolved) return undefined;
  return {
    name,
    type: resolved.type,
    column: resolved.valueColumn,
    ...(resolved.key !== name ? { key: resolved.key } : {}),
  };
}

function defineKey(
  key: string,
  configured: string | readonly string[],
  info: TableInfo,
  column: (key: string, name: string) => ColumnInfo | undefined,
  problems: string[],
): ColumnInfo[] | undefined {
  const names = typeof configured === 'string' ? [configured] : [...configured];
  const table = `${info.name.schema}.${info.name.name}`;
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined) {
    problems.push(`${key}: column "${duplicate}" is listed twice`);
    return undefined;
  }
  const columns = names.map((name) => column(key, name));
  if (columns.some((found) => found === undefined)) return undefined;
  const found = columns as ColumnInfo[];
  const primaryKey = info.primaryKey.join(', ') || 'missing';
  if (found.length === 1) {
    if (!info.uniqueColumns.has(found[0]!.name)) {
      problems.push(
        `${key}: column "${found[0]!.name}" is not the primary key or a unique column of ${table} (its primary key is ${primaryKey})`,
      );
    }
    return found;
  }
  const sameColumns = (candidate: readonly string[]) =>
    candidate.length === names.length && candidate.every((name) => names.includes(name));
  if (!info.uniqueKeys.some(sameColumns)) {
    problems.push(
      `${key}: columns ${names.map((name) => `"${name}"`).join(', ')} are not the primary key or a unique key of ${table} (its primary key is ${primaryKey})`,
    );
  }
  for (const part of found) {
    if (part.nullable) {
      problems.push(`${key}: column "${part.name}" of a composite key must be NOT NULL`);
    }
    if (!compositeKeyTypes.has(part.baseType)) {
      problems.push(
        `${key}: column "${part.name}" has type ${part.type}; a composite key's columns must be integer, numeric, text, varchar or uuid`,
      );
    }
  }
  return found;
}

function suggest(wanted: string, info: TableInfo): string {
  return didYouMean(wanted, info.columns.keys());
}
