import type { CollectionDefinition } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { rowToJson, validateDocumentBody } from './document-fields.js';

/**
 * The documents API writes the source table only; capture (triggers in outbox mode) does
 * the rest in the same transaction. Every statement is scoped to the caller's tenant, and
 * "not yours" is reported exactly like "does not exist", so ids of other tenants never leak.
 */
export class DocumentWriter {
  constructor(private readonly db: SqlExecutor) {}

  async get(definition: CollectionDefinition, tenant: string, id: string): Promise<Record<string, unknown>> {
    const result = await this.run(definition, () =>
      this.db.query<Record<string, unknown>>(
        `SELECT * FROM ${definition.tableSql} WHERE ${this.keyFilter(definition)}`,
        [id, tenant],
      ),
    );
    return this.found(definition, id, result.rows[0]);
  }

  async create(
    definition: CollectionDefinition,
    tenant: string,
    body: unknown,
  ): Promise<Record<string, unknown>> {
    const values = validateDocumentBody(definition, body, 'create', tenant);
    values.set(definition.tenantColumn.name, tenant);
    const columns = [...values.keys()];
    const params = [...values.values()];
    const placeholders = columns.map(
      (column, index) => `$${index + 1}::${definition.tableInfo.columns.get(column)!.type}`,
    );
    const result = await this.run(definition, () =>
      this.db.query<Record<string, unknown>>(
        `INSERT INTO ${definition.tableSql} (${columns.map(quoteIdent).join(', ')}) VALUES (${placeholders.join(', ')}) RETURNING *`,
        params,
      ),
    );
    return rowToJson(definition, result.rows[0]!);
  }

  /** PUT (replace) or PATCH (merge). */
  async update(
    definition: CollectionDefinition,
    tenant: string,
    id: string,
    body: unknown,
    mode: 'replace' | 'patch',
  ): Promise<Record<string, unknown>> {
    const values = validateDocumentBody(definition, body, mode, tenant, id);
    if (values.size === 0) return this.get(definition, tenant, id);
    const columns = [...values.keys()];
    const assignments = columns.map(
      (column, index) =>
        `${quoteIdent(column)} = $${index + 3}::${definition.tableInfo.columns.get(column)!.type}`,
    );
    const result = await this.run(definition, () =>
      this.db.query<Record<string, unknown>>(
        `UPDATE ${definition.tableSql} SET ${assignments.join(', ')} WHERE ${this.keyFilter(definition)} RETURNING *`,
        [id, tenant, ...values.values()],
      ),
    );
    return this.found(definition, id, result.rows[0]);
  }

  /** Deletes and returns the deleted row (dual-write needs its version). */
  async delete(
    definition: CollectionDefinition,
    tenant: string,
    id: string,
  ): Promise<Record<string, unknown>> {
    const result = await this.run(definition, () =>
      this.db.query<Record<string, unknown>>(
        `DELETE FROM ${definition.tableSql} WHERE ${this.keyFilter(definition)} RETURNING *`,
        [id, tenant],
      ),
    );
    return this.found(definition, id, result.rows[0]);
  }

  private keyFilter(definition: CollectionDefinition): string {
    return `${quoteIdent(definition.primaryKey.name)} = $1::${definition.primaryKey.type} AND ${quoteIdent(definition.tenantColumn.name)} = $2`;
  }

  private found(
    definition: CollectionDefinition,
    id: string,
    row: Record<string, unknown> | undefined,
  ): Record<string, unknown> {
    if (!row) {
      throw new VectorsyncError(
        ErrorCode.DocumentNotFound,
        `no document "${id}" in collection "${definition.name}"`,
        {
          details: { collection: definition.name, id },
        },
      );
    }
    return rowToJson(definition, row);
  }

  /** Turns constraint and type errors from Postgres into 4xx errors that name the field. */
  private async run<T>(definition: CollectionDefinition, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
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
      if (
        state === SqlState.InvalidTextRepresentation &&
        /^invalid input syntax for type/.test(pgError.message)
      ) {
        throw new VectorsyncError(ErrorCode.InvalidFieldValue, pgError.message, { cause: error });
      }
      if (
        state?.startsWith('22') ||
        state === SqlState.NotNullViolation ||
        state === SqlState.CheckViolation
      ) {
        throw new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `${pgError.message}${pgError.column ? ` (field "${pgError.column}")` : ''}`,
          {
            cause: error,
            details: pgError.column ? { field: pgError.column } : {},
          },
        );
      }
      if (state === SqlState.ForeignKeyViolation) {
        throw new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `${pgError.message}: ${pgError.detail ?? ''}`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
