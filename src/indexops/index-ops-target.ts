import { hostname, userInfo } from 'node:os';
import type { IndexOpsConfig, StoreConfig } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import type { AnnIndexTable, IndexOpsSupport } from '../stores/index-ops-support.js';

/** Everything an index operation on one collection needs, resolved once. */
export interface IndexOpsTarget {
  collection: string;
  /** The active index version; its table holds the ANN indexes. */
  index: IndexTarget;
  support: IndexOpsSupport;
  table: AnnIndexTable;
  storeConfig: StoreConfig;
  /** Where vectorsync.index_operations lives (the source database). */
  db: SqlExecutor;
  config: IndexOpsConfig;
  logger: Logger;
}

/**
 * The collection's active index and its store's index-operations capability. A store
 * without it (one that manages its own indexes, or the embedded demo) gets a clear error.
 */
export function resolveIndexOpsTarget(
  runtime: VectorsyncRuntime,
  collection: string,
  logger: Logger,
): IndexOpsTarget {
  const index = runtime.activeTarget(collection);
  const support = index.store.indexOps;
  if (!support) {
    throw new VectorsyncError(
      ErrorCode.IndexOpsUnsupported,
      `collection "${collection}" is served by store "${index.storeName}" (${index.store.kind}${runtime.db.kind === 'pglite' ? ' on embedded PGlite' : ''}), which does not support index operations: build, rebuild, rehearse and abort need a pgvector store on a Postgres server`,
      { details: { collection, store: index.storeName, kind: index.store.kind } },
    );
  }
  return {
    collection,
    index,
    support,
    table: support.table(index.spec),
    storeConfig: runtime.config.stores[index.storeName]!,
    db: runtime.db,
    config: runtime.config.indexOps,
    logger: logger.child({ collection }),
  };
}

/** Rows the index will hold: the table's rows, or one tenant's. */
export async function countScopeRows(target: IndexOpsTarget, tenant: string | null): Promise<number> {
  const { table } = target;
  const result = await target.support.db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${table.qualified}${tenant === null ? '' : ` WHERE ${quoteIdent(table.tenantColumn)} = $1`}`,
    tenant === null ? [] : [tenant],
  );
  return Number(result.rows[0]?.n ?? 0);
}

/** Who asked, for the history: $VECTORSYNC_ACTOR, else the OS user at this host. */
export function defaultActor(): string {
  if (process.env.VECTORSYNC_ACTOR) return process.env.VECTORSYNC_ACTOR;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return `${user}@${hostname()}`;
}

/** The process that owns a running operation (heartbeats for it). */
export function ownerId(): string {
  return `${hostname()}:${process.pid}`;
}
