import {
  type CollectionDefinition,
  idExpression,
  versionExpression,
} from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { latestEventId } from '../outbox/outbox-reads.js';
import type { IndexTarget } from '../runtime/vectorsync-runtime.js';
import { ID_BUCKETS, idBucket, idBucketSql } from '../stores/id-bucket.js';
import type { StoredRecordMeta } from '../stores/vector-store.js';
import { throwIfAborted } from './fill-index.js';

export interface TenantCount {
  tenant: string;
  source: number;
  index: number;
}

export interface Discrepancy {
  id: string;
  kind: 'missing' | 'orphan' | 'stale';
  source?: { tenant: string | null; version: number };
  index?: { tenant: string; version: number };
}

export interface CompletenessReport {
  /** Source rows and index records compared id by id (buckets 0..bucketsChecked-1). */
  compared: { source: number; index: number; buckets: number };
  tenants: TenantCount[];
  /** False when rows changed while counting: the counts were read at different instants. */
  countsComparable: boolean;
  discrepancies: Discrepancy[];
  ok: boolean;
}

/**
 * A bounded completeness check of a new index against the source: record counts per tenant,
 * and an id-by-id comparison (presence, version, tenant) of the source rows and the index's
 * scan over a range of id buckets (all of them by default), a chunk of buckets at a time so
 * memory stays bounded. Sync keeps running meanwhile, so differences are re-checked after
 * `settle()` (the caller waits for sync to catch up) and only those that persist are reported.
 * Not a reconciler: it repairs nothing (see the reconciliation module for that).
 */
export async function checkCompleteness(
  db: SqlExecutor,
  definition: CollectionDefinition,
  target: IndexTarget,
  options: {
    bucketFraction: number;
    chunkBuckets?: number;
    signal?: AbortSignal;
    settle: () => Promise<void>;
    onProgress?: (bucketsDone: number, bucketsTotal: number) => void;
  },
): Promise<CompletenessReport> {
  const bucketsTotal = Math.max(1, Math.min(ID_BUCKETS, Math.round(ID_BUCKETS * options.bucketFraction)));
  const chunk = options.chunkBuckets ?? 4096;
  let suspects: Discrepancy[] = [];
  let sourceCompared = 0;
  let indexCompared = 0;
  for (let from = 0; from < bucketsTotal; from += chunk) {
    throwIfAborted(options.signal);
    const to = Math.min(bucketsTotal, from + chunk) - 1;
    const source = await sourceInBuckets(db, definition, from, to);
    const index = await indexInBuckets(target, from, to);
    sourceCompared += source.size;
    indexCompared += index.size;
    suspects.push(...compare(source, index));
    options.onProgress?.(to + 1, bucketsTotal);
  }
  // Under live writes a difference may be sync lag: let sync catch up and look again, a few
  // times, at the differing ids only. Only differences that persist are reported.
  for (let round = 0; round < 5 && suspects.length > 0; round++) {
    throwIfAborted(options.signal);
    await options.settle();
    const { stuck, moving } = await recheck(db, definition, target, suspects);
    // After the last look, only differences that never caught up are reported.
    suspects = round === 4 ? stuck : [...stuck, ...moving];
  }
  // Counts per tenant are only comparable at a quiet moment: while rows change, the two sides
  // are read at different instants (the id-by-id comparison above covers completeness then).
  let tenants: TenantCount[] = [];
  let countsComparable = false;
  for (let round = 0; round < 5; round++) {
    throwIfAborted(options.signal);
    await options.settle();
    const before = await latestEventId(db, definition.name);
    tenants = await tenantCounts(db, definition, target);
    countsComparable = (await latestEventId(db, definition.name)) === before;
    if (!countsComparable || tenants.every((tenant) => tenant.source === tenant.index)) break;
  }
  const countsAgree = tenants.every((tenant) => tenant.source === tenant.index);
  return {
    compared: { source: sourceCompared, index: indexCompared, buckets: bucketsTotal },
    tenants,
    countsComparable,
    discrepancies: suspects,
    ok: suspects.length === 0 && (countsAgree || !countsComparable),
  };
}

type SourceMap = Map<string, { tenant: string | null; version: number }>;
type IndexMap = Map<string, StoredRecordMeta>;

function compare(source: SourceMap, index: IndexMap): Discrepancy[] {
  const found: Discrepancy[] = [];
  for (const [id, row] of source) {
    const record = index.get(id);
    if (!record) found.push({ id, kind: 'missing', source: row });
    else if (record.version !== row.version || record.tenant !== row.tenant)
      found.push({
        id,
        kind: 'stale',
        source: row,
        index: { tenant: record.tenant, version: record.version },
      });
  }
  for (const [id, record] of index) {
    if (!source.has(id))
      found.push({ id, kind: 'orphan', index: { tenant: record.tenant, version: record.version } });
  }
  return found;
}

/**
 * Compares the suspects again after sync settled: each one's bucket is re-read on both sides.
 * Under continuous writes a hot row can differ at every look while sync keeps up with it. A
 * difference whose index side has reached the state the source showed when it was last seen is
 * moving (lag): it is checked again from its new state. One whose index side has not is stuck (a
 * lost or misapplied change never gets there) and keeps the state it was found in; after the
 * last round, only the stuck ones are reported.
 */
async function recheck(
  db: SqlExecutor,
  definition: CollectionDefinition,
  target: IndexTarget,
  suspects: Discrepancy[],
): Promise<{ stuck: Discrepancy[]; moving: Discrepancy[] }> {
  const buckets = [...new Set(suspects.map((suspect) => idBucket(suspect.id)))].sort((a, b) => a - b);
  const seen = new Map(suspects.map((suspect) => [suspect.id, suspect]));
  const stuck: Discrepancy[] = [];
  const moving: Discrepancy[] = [];
  for (const bucket of buckets) {
    const source = await sourceInBuckets(db, definition, bucket, bucket);
    const index = await indexInBuckets(target, bucket, bucket);
    for (const current of compare(source, index)) {
      const found = seen.get(current.id);
      if (!found) continue;
      if (caughtUp(found, source, index)) moving.push(current);
      else stuck.push(found);
    }
  }
  return { stuck, moving };
}

/**
 * Whether the index side has reached what `found` saw on the source side: a record at (at least)
 * the version of the row seen, of the row's tenant, and not ahead of the source as it is now; or,
 * for a record with no row, a row since re-created at a newer version.
 */
function caughtUp(found: Discrepancy, source: SourceMap, index: IndexMap): boolean {
  const row = source.get(found.id);
  if (found.source) {
    const record = index.get(found.id);
    if (!record || !row || record.version < found.source.version || record.version > row.version)
      return false;
    if (record.version === row.version) return record.tenant === row.tenant;
    return record.version !== found.source.version || record.tenant === found.source.tenant;
  }
  return row !== undefined && found.index !== undefined && row.version > found.index.version;
}

async function sourceInBuckets(
  db: SqlExecutor,
  definition: CollectionDefinition,
  from: number,
  to: number,
): Promise<SourceMap> {
  const id = idExpression(definition, 's');
  const result = await db.query<{ id: string; tenant: string | null; version: string }>(
    `SELECT ${id} AS id, s.${quoteIdent(definition.tenantColumn.name)}::text AS tenant,
            ${versionExpression(definition, 's')}::text AS version
       FROM ${definition.tableSql} s
      WHERE ${idBucketSql(id)} BETWEEN $1 AND $2`,
    [from, to],
  );
  return new Map(result.rows.map((row) => [row.id, { tenant: row.tenant, version: Number(row.version) }]));
}

async function indexInBuckets(target: IndexTarget, from: number, to: number): Promise<IndexMap> {
  const records: IndexMap = new Map();
  let cursor: string | undefined;
  do {
    const page = await target.store.scan(target.spec, {
      bucketFrom: from,
      bucketTo: to,
      limit: 2000,
      ...(cursor ? { cursor } : {}),
    });
    for (const record of page.records) records.set(record.id, record);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return records;
}

async function tenantCounts(
  db: SqlExecutor,
  definition: CollectionDefinition,
  target: IndexTarget,
): Promise<TenantCount[]> {
  const result = await db.query<{ tenant: string | null; n: string }>(
    `SELECT s.${quoteIdent(definition.tenantColumn.name)}::text AS tenant, count(*)::text AS n
       FROM ${definition.tableSql} s GROUP BY 1 ORDER BY 1`,
  );
  const counts: TenantCount[] = [];
  for (const row of result.rows) {
    if (row.tenant === null || row.tenant === '') continue; // rows without a tenant are never indexed
    counts.push({
      tenant: row.tenant,
      source: Number(row.n),
      index: await target.store.count(target.spec, row.tenant),
    });
  }
  const indexed = await target.store.count(target.spec);
  const accounted = counts.reduce((sum, count) => sum + count.index, 0);
  if (indexed !== accounted)
    counts.push({ tenant: '(tenants not in the source)', source: 0, index: indexed - accounted });
  return counts;
}
