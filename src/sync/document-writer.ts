import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression, versionExpression } from '../config/collection-definition.js';
import { isConnectionError } from '../db/connection-failure.js';
import type { Database, SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { ChangeEvent } from './change-event.js';
import { rowToJson, validateDocumentBody } from './document-fields.js';
import { documentKey } from './document-key.js';

/** What a write changed: the row's canonical key and the version written (or deleted). */
export type DocumentChange = Omit<ChangeEvent, 'eventId'>;

/**
 * Runs inside the write's transaction once the row is written; what it records commits or
 * rolls back with the write (dual-write's intent: src/sync/dual-writer.ts).
 */
export type WriteCapture = (tx: SqlExecutor, change: DocumentChange) => Promise<string>;

export interface DocumentWrite {
  document: Record<string, unknown>;
  /** Absent when nothing was written (an update with no fields). */
  change?: DocumentChange;
  /** What the capture returned (the intent's id). */
  captured?: string;
}

const ID = '__vectorsync_id';
const VERSION = '__vectorsync_version';

/**
 * The documents API writes the source table only; capture (triggers in outbox mode) does
 * the rest in the same transaction. Every statement is scoped to the caller's tenant, and
 * "not yours" is reported exactly like "does not exist", so ids of other tenants never leak.
 */
export class DocumentWriter {
  constructor(private readonly db: Database) {}

  async get(definition: CollectionDefinition, tenant: string, id: string): Promise<Record<string, unknown>> {
    const result = await this.run(definition, () =>
      this.db.query<Record<string, unknown>>(
        `SELECT * FROM ${definition.tableSql} WHERE ${this.keyFilter(definition)}`,
        this.keyParams(definition, tenant, id),
      ),
    );
    const row = this.found(definition, id, result.rows[0]);
    return rowToJson(definition, row);
  }

  async create(
    definition: CollectionDefinition,
    tenant: string,
    body: unknown,
    capture?: WriteCapture,
  ): Promise<DocumentWrite> {
    const values = validateDocumentBody(definition, body, 'create', tenant);
    values.set(definition.tenantColumn.name, tenant);
    const columns = [...values.keys()];
    const params = [...values.values()];
    const placeholders = columns.map(
      (column, index) => `$${index + 1}::${definition.tableInfo.columns.get(column)!.type}`,
    );
    return this.write(definition, 'upsert', capture, (tx) =>
      tx.query<Record<string, unknown>>(
        `INSERT INTO ${definition.tableSql} AS s (${columns.map(quoteIdent).join(', ')}) VALUES (${placeholders.join(', ')}) RETURNING ${this.returning(definition)}`,
        params,
      ),
    ).then((written) => this.found(definition, '(new)', written));
  }

  /** PUT (replace) or PATCH (merge). */
  async update(
    definition: CollectionDefinition,
    tenant: string,
    id: string,
    body: unknown,
    mode: 'replace' | 'patch',
    capture?: WriteCapture,
  ): Promise<DocumentWrite> {
    const key = this.keyParams(definition, tenant, id);
    const values = validateDocumentBody(definition, body, mode, tenant, id);
    if (values.size === 0) return { document: await this.get(definition, tenant, id) };
    const columns = [...values.keys()];
    const assignments = columns.map(
      (column, index) =>
        `${quoteIdent(column)} = $${index + key.length + 1}::${definition.tableInfo.columns.get(column)!.type}`,
    );
    const written = await this.write(definition, 'upsert', capture, (tx) =>
      tx.query<Record<string, unknown>>(
        `UPDATE ${definition.tableSql} AS s SET ${assignments.join(', ')} WHERE ${this.keyFilter(definition)} RETURNING ${this.returning(definition)}`,
        [...key, ...values.values()],
      ),
    );
    return this.found(definition, id, written);
  }

  /** Deletes and returns the deleted row; the change carries the version it deleted. */
  async delete(
    definition: CollectionDefinition,
    tenant: string,
    id: string,
    capture?: WriteCapture,
  ): Promise<DocumentWrite> {
    const written = await this.write(definition, 'delete', capture, (tx) =>
      tx.query<Record<string, unknown>>(
        `DELETE FROM ${definition.tableSql} AS s WHERE ${this.keyFilter(definition)} RETURNING ${this.returning(definition)}`,
        this.keyParams(definition, tenant, id),
      ),
    );
    return this.found(definition, id, written);
  }

  /** One statement and its capture in one transaction; undefined when no row matched. */
  private async write(
    definition: CollectionDefinition,
    op: 'upsert' | 'delete',
    capture: WriteCapture | undefined,
    statement: (tx: SqlExecutor) => Promise<{ rows: Array<Record<string, unknown>> }>,
  ): Promise<DocumentWrite | undefined> {
    return this.run(definition, () =>
      this.db.transaction(async (tx) => {
        const raw = (await statement(tx)).rows[0];
        if (!raw) return undefined;
        const { [ID]: id, [VERSION]: version, ...row } = raw;
        const change: DocumentChange = {
          collection: definition.name,
          tenant: String(row[definition.tenantColumn.name]),
          sourceId: String(id),
          op,
          // A revisioned document's delete carries no version (outbox/enqueue-many.ts says why).
          sourceVersion:
            version === null || version === undefined || (op === 'delete' && definition.revisioned)
              ? null
              : Number(version),
        };
        const captured = capture ? await capture(tx, change) : undefined;
        return {
          document: rowToJson(definition, row),
          change,
          ...(captured !== undefined ? { captured } : {}),
        };
      }),
    );
  }

  private returning(definition: CollectionDefinition): string {
    return `s.*, ${idExpression(definition, 's')} AS "${ID}", ${versionExpression(definition, 's')}::text AS "${VERSION}"`;
  }

  /** The key columns, then the tenant: $1 … $n+1, matching keyParams. */
  private keyFilter(definition: CollectionDefinition): string {
    const key = definition.keyColumns.map(
      (column, index) => `${quoteIdent(column.name)} = $${index + 1}::${column.type}`,
    );
    return `${key.join(' AND ')} AND ${quoteIdent(definition.tenantColumn.name)} = $${key.length + 1}`;
  }

  private keyParams(definition: CollectionDefinition, tenant: string, id: string): string[] {
    return [...documentKey(definition, id), tenant];
  }

  private found<T>(definition: CollectionDefinition, id: string, value: T | undefined): T {
    if (value === undefined) {
      throw new VectorsyncError(
        ErrorCode.DocumentNotFound,
        `no document "${id}" in collection "${definition.name}"`,
        {
          details: { collection: definition.name, id },
        },
      );
    }
    return value;
  }

  /** Turns constraint and type errors from Postgres into 4xx errors that name the field. */
  private async run<T>(definition: CollectionDefinition, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isConnectionError(error)) {
        // Whether a write that was in flight committed is unknown: the client must read it back.
        throw new VectorsyncError(
          ErrorCode.SourceUnavailable,
          `the source database is unreachable; collection "${definition.name}" cannot be read or written now`,
          { cause: error, transient: true, details: { collection: definition.name } },
        );
      }
      const state = sqlStateOf(error);
      const pgError = error as { column?: string; constraint?: string; message: string; detail?: string };
      if (state === SqlState.UniqueViolation) {
        throw new VectorsyncError(
          ErrorCode.DocumentExists,
          `a document with this key already exists in "${definition.name}"`,
          {
            details: { constraint: pgError.constraint },
          },
        );
      }
      // The checks before the write catch what they can; what Postgres still refuses (a CHECK
      // constraint, a foreign key, an enum label) is answered in our words: the server's text
      // can quote other rows and stays in `cause` for the log.
      const field = pgError.column ? { field: pgError.column } : {};
      const constraint = pgError.constraint ? { constraint: pgError.constraint } : {};
      if (state === SqlState.NotNullViolation) {
        throw new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `field "${pgError.column ?? '?'}" must not be null`,
          { cause: error, details: { ...field } },
        );
      }
      if (state === SqlState.CheckViolation) {
        throw new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `the document violates the table's check constraint${pgError.constraint ? ` "${pgError.constraint}"` : ''}`,
          { cause: error, details: { ...field, ...constraint } },
        );
      }
      if (state === SqlState.ForeignKeyViolation) {
        throw new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `the document references a row that does not exist${pgError.constraint ? ` (foreign key "${pgError.constraint}")` : ''}`,
          { cause: error, details: { ...constraint } },
        );
      }
      if (state?.startsWith('22')) {
        throw new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `${refusedValueMessage(state, pgError.message)}${pgError.column ? ` (field "${pgError.column}")` : ''}`,
          { cause: error, details: { ...field } },
        );
      }
      throw error;
    }
  }
}

/** Our sentence for a value Postgres refused, by its SQLSTATE (the type and value are the client's). */
function refusedValueMessage(state: string | undefined, message: string): string {
  const syntax = /^invalid input (?:syntax|value) for (?:type|enum) ([\w ]+): "(.*)"$/s.exec(message);
  if (syntax) return `a value is not a valid ${syntax[1]} (got ${JSON.stringify(syntax[2]!.slice(0, 80))})`;
  switch (state) {
    case SqlState.NotNullViolation:
      return 'a required value is null';
    case SqlState.CheckViolation:
      return "a value is refused by a check of the collection's table";
    case SqlState.CharacterNotInRepertoire:
      return 'a text value contains a NUL byte or a character the database cannot store';
    case SqlState.StringDataRightTruncation:
      return 'a value is too long for its field';
    case SqlState.NumericValueOutOfRange:
      return 'a number is out of range for its field';
    case SqlState.InvalidDatetimeFormat:
    case SqlState.DatetimeFieldOverflow:
      return 'a date or time value is not valid or out of range';
    default:
      return 'a value is not valid for its field';
  }
}
