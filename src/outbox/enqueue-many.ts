import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression, versionExpression } from '../config/collection-definition.js';
import { quoteIdent, quoteLiteral } from '../db/sql-identifier.js';

/** Where an event comes from (the outbox's `origin`); see work-kind.ts for what each means. */
export type EnqueueOrigin = 'trigger' | 'app' | 'backfill' | 'truncate' | 'reconcile';

/**
 * How many rows one call of vectorsync.enqueue_many() takes when a relation is enqueued: its
 * arrays stay far below Postgres' 1 GB limit on a value, whatever the size of the statement.
 */
export const ENQUEUE_CHUNK_ROWS = 100_000;

/** The call of the entry point for arrays bound as parameters ($n for each argument). */
export function enqueueManyCall(params: {
  collection: string;
  op: string;
  tenants: string;
  sourceIds: string;
  sourceVersions: string;
  origin: string;
}): string {
  return `vectorsync.enqueue_many(${params.collection}, ${params.op}, ${params.tenants}::text[], ${params.sourceIds}::text[], ${params.sourceVersions}::bigint[], ${params.origin})`;
}

/**
 * A query that enqueues one event per row of `relation` (a transition table, or the source
 * table itself) through vectorsync.enqueue_many(), in chunks of `chunkRows`, and returns the
 * number of events as `enqueued`. The relation is read with the collection's own tenant, key
 * and version expressions, so an event names the canonical key the row indexes under.
 */
export function enqueueRelationSql(options: {
  definition: CollectionDefinition;
  relation: string;
  alias: string;
  op: 'upsert' | 'delete';
  origin: EnqueueOrigin;
  where?: string;
  chunkRows?: number;
}): string {
  const { definition, alias } = options;
  const chunkRows = options.chunkRows ?? ENQUEUE_CHUNK_ROWS;
  if (!Number.isSafeInteger(chunkRows) || chunkRows < 1)
    throw new Error(`chunkRows must be a positive integer, got ${chunkRows}`);
  const tenant = `coalesce(${alias}.${quoteIdent(definition.tenantColumn.name)}::text, '')`;
  // A document built from several tables can be re-indexed by a related change after its row's
  // delete was captured (the delete still uncommitted): the version the delete saw may be below
  // the one stored by then. Unknown, the delete removes whatever is stored and is checked
  // against the source afterwards (the applier's rule for versionless deletes).
  const deleteVersionUnknown = options.op === 'delete' && definition.revisioned;
  const call = enqueueManyCall({
    collection: quoteLiteral(definition.name),
    op: quoteLiteral(options.op),
    tenants: 'array_agg(r.tenant)',
    sourceIds: 'array_agg(r.source_id)',
    sourceVersions: 'array_agg(r.source_version)',
    origin: quoteLiteral(options.origin),
  });
  return `SELECT coalesce(sum(queued), 0)::bigint AS enqueued FROM (
    SELECT ${call} AS queued
      FROM (SELECT ${tenant} AS tenant, ${idExpression(definition, alias)} AS source_id,
                   ${deleteVersionUnknown ? 'NULL::bigint' : versionExpression(definition, alias)} AS source_version, row_number() OVER () AS n
              FROM ${options.relation} ${alias} ${options.where ?? ''}) r
     GROUP BY (r.n - 1) / ${chunkRows}) enqueued`;
}

/** The one event a TRUNCATE queues: its worker re-enqueues whatever rows remain. */
export function enqueueTruncateSql(collection: string, origin: EnqueueOrigin): string {
  return `SELECT ${enqueueManyCall({
    collection: quoteLiteral(collection),
    op: `'truncate'`,
    tenants: `ARRAY['']`,
    sourceIds: `ARRAY['']`,
    sourceVersions: 'NULL',
    origin: quoteLiteral(origin),
  })} AS enqueued`;
}
