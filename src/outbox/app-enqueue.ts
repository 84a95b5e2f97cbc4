import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import {
  type CaptureStatement,
  runOnTransaction,
  sqlLiteral,
  type TransactionClient,
} from './transaction-client.js';

export interface EnqueueRequest {
  collection: string;
  tenant: string;
  id: string;
  op?: 'upsert' | 'delete';
  /** The source version written (or, for a delete, the version deleted). */
  version?: number | null;
}

/**
 * Application-side capture: call with the client of your own open transaction (a node-postgres
 * `PoolClient`, a Kysely `Transaction`, a Drizzle `tx`, …), right after the write. The event
 * commits or rolls back with it. Triggers use the same outbox table; this is for tables where
 * triggers are not wanted or for changes computed outside SQL. Returns the outbox event id.
 */
export async function enqueueChange(tx: TransactionClient, request: EnqueueRequest): Promise<string> {
  const statement = enqueueStatement(request);
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await runOnTransaction(tx, statement);
  } catch (error) {
    throw unknownCollection(error, request.collection) ?? error;
  }
  const id = rows[0]?.id;
  if (typeof id !== 'string') {
    throw new VectorsyncError(ErrorCode.Internal, 'vectorsync.enqueue() returned no event id');
  }
  return id;
}

/** The call of `vectorsync.enqueue()` for one request, checked first so a bad value is named here. */
export function enqueueStatement(request: EnqueueRequest): CaptureStatement {
  for (const field of ['collection', 'tenant', 'id'] as const) {
    if (typeof request[field] !== 'string') {
      throw new VectorsyncError(
        ErrorCode.InvalidFieldValue,
        `enqueueChange: "${field}" must be a string, got ${request[field] === null ? 'null' : typeof request[field]}`,
        { details: { field } },
      );
    }
  }
  const op = request.op ?? 'upsert';
  if (op !== 'upsert' && op !== 'delete') {
    throw new VectorsyncError(
      ErrorCode.InvalidFieldValue,
      `enqueueChange: "op" must be "upsert" or "delete", got ${JSON.stringify(op)}`,
      { details: { field: 'op', value: op } },
    );
  }
  const version = request.version ?? null;
  if (version !== null && !Number.isSafeInteger(version)) {
    throw new VectorsyncError(
      ErrorCode.InvalidFieldValue,
      `enqueueChange: "version" must be an integer, got ${JSON.stringify(version)}`,
      { details: { field: 'version', value: version } },
    );
  }
  const values = [request.collection, request.tenant, request.id, op, version];
  return {
    text: 'SELECT vectorsync.enqueue($1, $2, $3, $4, $5::bigint)::text AS id',
    values,
    inlined: `SELECT vectorsync.enqueue(${values.map(sqlLiteral).join(', ')}::bigint)::text AS id`,
  };
}

/**
 * vectorsync.enqueue() refuses a collection setup never registered. Libraries wrap driver
 * errors (Drizzle's DrizzleQueryError), so the Postgres error is looked for along the causes.
 */
function unknownCollection(error: unknown, collection: string): VectorsyncError | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const message = (current as { message?: unknown }).message;
    if (
      sqlStateOf(current) === SqlState.UndefinedObject &&
      typeof message === 'string' &&
      message.startsWith('vectorsync: unknown collection')
    ) {
      return new VectorsyncError(
        ErrorCode.UnknownCollection,
        `enqueueChange: unknown collection "${collection}"; declare it in the config and run \`vectorsync setup\``,
        { details: { collection }, cause: error },
      );
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
