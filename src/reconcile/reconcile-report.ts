/**
 * What a reconciliation run found and did. Counts are exact; sample lists are bounded (the
 * first `sampleSize` of each kind), so a report stays small whatever the drift.
 */
export type DriftKind = 'missing' | 'orphaned' | 'stale' | 'unbuildable';
export type ReconcileMode = 'report' | 'dry-run' | 'fix';
export type ReconcileTrigger = 'cli' | 'http' | 'schedule' | 'library';
export type ReconcileStatus = 'completed' | 'aborted' | 'failed';

/**
 * Why a record is stale: its tenant, its version, or (same version) its content hash differs;
 * or its row cannot be indexed any more (every template field empty, no tenant), so a rebuild
 * would not produce it.
 */
export type StaleReason = 'tenant' | 'version' | 'content' | 'unbuildable';

/**
 * Why a record is missing although its row exists: a tombstone at or above the row's version
 * refuses every ordinary write of it (only an authoritative repair can clear it).
 */
export type MissingReason = 'tombstone';

export interface DriftSample {
  id: string;
  tenant: string | null;
  reason?: StaleReason | MissingReason;
  indexVersion?: number;
  sourceVersion?: number;
  /** Unbuildable rows: the error that stops the row from being indexed. */
  code?: string;
  message?: string;
}

export interface DriftCounts {
  missing: number;
  orphaned: number;
  stale: number;
  unbuildable: number;
}

export interface RepairAction {
  action: 'upsert' | 'delete';
  kind: Exclude<DriftKind, 'unbuildable'>;
  tenant: string;
  id: string;
  /** Missing: the source version; stale and orphaned: the version the index holds. */
  version: number;
}

export interface RepairSummary {
  /** Repairs the run decided on (in dry-run: would make). */
  planned: number;
  /** Written to the index through the version-guarded apply path. */
  repaired: number;
  /** The guard kept what the index holds: a concurrent sync was newer, or the row changed meanwhile. */
  skipped: number;
  /** Could not be applied now; handed to the outbox (origin 'reconcile') for the workers to retry. */
  failed: number;
  /**
   * Of the repairs made, those written over what the version guard protects because the source
   * contradicts it: a tombstone of a row that exists, or a record newer than its row.
   */
  overwritten: number;
  queued: number;
  /** The first `sampleSize` planned actions. */
  actions: RepairAction[];
  /** The first `sampleSize` failures, with their errors. */
  errors: Array<{ id: string; code: string; message: string }>;
}

export interface ReconcileReport {
  runId: string;
  collection: string;
  tenant: string | null;
  index: { id: number; location: string; store: string; embedderModel: string; dimensions: number };
  mode: ReconcileMode;
  trigger: ReconcileTrigger;
  status: ReconcileStatus;
  /** True when the run completed and found no drift (in-flight changes aside). */
  inSync: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  sourceRows: number;
  indexRecords: number;
  counts: DriftCounts & {
    /** Differences with an unapplied outbox event for the row: sync is about to fix them. */
    inFlight: number;
    /**
     * Contradictions, which ordinary sync can never fix: missing records whose row a tombstone
     * at or above its version blocks, and records with a newer version than their row.
     */
    blockedByTombstone: number;
    newerThanSource: number;
  };
  samples: Record<DriftKind, DriftSample[]>;
  /** Drift per tenant (the 1,000 first tenants seen with drift; the rest are summed under "*"). */
  byTenant: Record<string, DriftCounts>;
  fastPath: {
    bucketBits: number;
    /** Groups with records on either side. */
    groups: number;
    differingGroups: number;
    /** Who computed the index-side checksums: the store itself, or this process from scan. */
    checksumsBy: 'store' | 'scan';
    /** Rows and records compared one by one (only those of differing groups). */
    rowsCompared: number;
  };
  /** Where the time went, in milliseconds: source pass, index-side checksums (concurrent with it), row diff, repairs. */
  timings: { sourceMs: number; indexChecksumsMs: number; diffMs: number; repairMs: number };
  repair: RepairSummary | null;
  /**
   * The configured embedder differs from the one the index was built with. The index is still
   * compared with its own embedder; the config says a re-embed (`vectorsync reembed`) is due.
   */
  embedderMismatch: { index: string; configured: string } | null;
  error: { code: string; message: string } | null;
}

const TENANT_LIMIT = 1000;

export function emptyCounts(): DriftCounts {
  return { missing: 0, orphaned: 0, stale: 0, unbuildable: 0 };
}

/** Accumulates drift into exact counts and bounded samples. */
export class DriftTally {
  readonly counts = { ...emptyCounts(), inFlight: 0, blockedByTombstone: 0, newerThanSource: 0 };
  readonly samples: Record<DriftKind, DriftSample[]> = {
    missing: [],
    orphaned: [],
    stale: [],
    unbuildable: [],
  };
  readonly byTenant: Record<string, DriftCounts> = {};
  private tenants = 0;

  constructor(private readonly sampleSize: number) {}

  record(kind: DriftKind, sample: DriftSample): void {
    this.counts[kind]++;
    if (this.samples[kind].length < this.sampleSize) this.samples[kind].push(sample);
    const tenant = sample.tenant ?? '';
    let entry = this.byTenant[tenant];
    if (!entry) {
      if (this.tenants >= TENANT_LIMIT) {
        this.byTenant['*'] ??= emptyCounts();
        entry = this.byTenant['*'];
      } else {
        this.tenants++;
        entry = emptyCounts();
        this.byTenant[tenant] = entry;
      }
    }
    entry[kind]++;
  }

  total(): number {
    return this.counts.missing + this.counts.orphaned + this.counts.stale + this.counts.unbuildable;
  }
}

export function emptyRepairSummary(): RepairSummary {
  return {
    planned: 0,
    repaired: 0,
    skipped: 0,
    failed: 0,
    overwritten: 0,
    queued: 0,
    actions: [],
    errors: [],
  };
}
