import type { CollectionDefinition } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import type { EmbedderIdentity } from '../pipeline/document-builder.js';
import type { IndexSpec, StoredRecordMeta, VectorStore } from '../stores/vector-store.js';
import type { DriftKind, MissingReason, StaleReason } from './reconcile-report.js';
import { type SourceEntry, scanSource } from './source-scanner.js';
import { bucketRanges, scanBuckets } from './store-reader.js';

/** One difference between the source and the index, with what a repair needs to know. */
export interface Drift {
  kind: Exclude<DriftKind, 'unbuildable'>;
  id: string;
  /** Missing: the source row's tenant; stale and orphaned: the tenant the index record has. */
  tenant: string;
  reason?: StaleReason | MissingReason;
  sourceTenant?: string;
  sourceVersion?: number;
  indexVersion?: number;
}

export interface DiffContext {
  db: SqlExecutor;
  definition: CollectionDefinition;
  embedder: EmbedderIdentity;
  store: VectorStore;
  spec: IndexSpec;
  bits: number;
  tenant?: string;
  pageSize: number;
  signal?: AbortSignal;
}

/**
 * Compares, row by row, the source rows and index records of some bucket groups (those whose
 * checksums differed). The source is read in primary-key order with Postgres filtering rows
 * to the groups (one pass over the key index, nothing else leaves the database); the index is
 * read by bucket range. Memory: the rows of these groups only; the caller sizes the groups.
 */
export async function diffGroups(
  context: DiffContext,
  groups: readonly number[],
): Promise<{ drift: Drift[]; compared: number }> {
  const mask = Buffer.alloc(Math.max(1, (1 << context.bits) >> 3));
  for (const group of groups) mask[group >> 3]! |= 1 << (group & 7);
  const source = new Map<string, SourceEntry>();
  for await (const page of scanSource(context.db, context.definition, context.embedder, {
    pageSize: context.pageSize,
    groups: { bits: context.bits, mask },
    ...(context.tenant !== undefined ? { tenant: context.tenant } : {}),
    ...(context.signal ? { signal: context.signal } : {}),
  })) {
    for (const entry of page) source.set(entry.id, entry);
  }
  // A store keyed by (tenant, id) may hold one id under several tenants: keep them all.
  const stored = new Map<string, StoredRecordMeta[]>();
  let records = 0;
  for (const [from, to] of bucketRanges(groups, context.bits)) {
    for await (const page of scanBuckets(context.store, context.spec, from, to, {
      pageSize: context.pageSize,
      ...(context.tenant !== undefined ? { tenant: context.tenant } : {}),
      ...(context.signal ? { signal: context.signal } : {}),
    })) {
      records += page.length;
      for (const record of page) {
        const list = stored.get(record.id);
        if (list) list.push(record);
        else stored.set(record.id, [record]);
      }
    }
  }

  const drift: Drift[] = [];
  for (const [id, entry] of source) {
    const held = stored.get(id) ?? [];
    // A row that cannot be built is reported as unbuildable (by the checksum pass); a record the
    // index still holds for it is an older state that a rebuild would not produce: stale.
    if (entry.error) {
      for (const record of held)
        drift.push({
          kind: 'stale',
          id,
          tenant: record.tenant,
          reason: 'unbuildable',
          indexVersion: record.version,
        });
      continue;
    }
    const expected = entry.identity;
    const match = held.find((record) => record.tenant === expected.tenant) ?? held[0];
    if (!match) {
      drift.push({
        kind: 'missing',
        id,
        tenant: expected.tenant,
        sourceTenant: expected.tenant,
        sourceVersion: expected.version,
      });
    } else {
      const reason: StaleReason | undefined =
        match.tenant !== expected.tenant
          ? 'tenant'
          : match.version !== expected.version
            ? 'version'
            : match.contentHash !== expected.contentHash
              ? 'content'
              : undefined;
      if (reason) {
        drift.push({
          kind: 'stale',
          id,
          tenant: match.tenant,
          reason,
          sourceTenant: expected.tenant,
          sourceVersion: expected.version,
          indexVersion: match.version,
        });
      }
    }
    for (const other of held) {
      if (other !== match)
        drift.push({ kind: 'orphaned', id, tenant: other.tenant, indexVersion: other.version });
    }
  }
  for (const [id, held] of stored) {
    if (source.has(id)) continue;
    for (const record of held)
      drift.push({ kind: 'orphaned', id, tenant: record.tenant, indexVersion: record.version });
  }
  await markBlockingTombstones(context, drift);
  return { drift, compared: source.size + records };
}

/**
 * A missing record whose row a tombstone at or above the row's version blocks: no ordinary
 * write can bring it back (a delete applied from a state older than the row, or a version
 * column that did not grow on re-insert). Stores that cannot list tombstones leave it unmarked;
 * the authoritative repair clears it either way.
 */
async function markBlockingTombstones(context: DiffContext, drift: Drift[]): Promise<void> {
  const missing = drift.filter((item) => item.kind === 'missing');
  if (missing.length === 0 || !context.store.tombstoneVersions) return;
  const tombstones = await context.store.tombstoneVersions(
    context.spec,
    missing.map((item) => item.id),
  );
  for (const item of missing) {
    const version = tombstones.get(item.id);
    if (version !== undefined && version >= item.sourceVersion!) {
      item.reason = 'tombstone';
      item.indexVersion = version;
    }
  }
}
