import type { AnnMethod } from '../stores/index-ops-support.js';

/** One row of pg_stat_progress_create_index for the build's backend. */
export interface ProgressSample {
  phase: string;
  blocksTotal: number;
  blocksDone: number;
  tuplesTotal: number;
  tuplesDone: number;
  lockersTotal: number;
  lockersDone: number;
  /** Parallel workers attached to the backend right now. */
  workers: number;
}

/** What every progress consumer sees: CLI bar, log lines, metrics, the status endpoint. */
export interface BuildProgress {
  /** Postgres' phase text, `starting` before the first sample, `done` after success. */
  phase: string;
  /** 0…1 over the whole statement; phases map to fixed ranges, so it only grows. */
  fraction: number;
  rowsDone: number;
  rowsTotal: number;
  blocksDone: number;
  blocksTotal: number;
  /** Rows loaded per minute over the last `rateWindowSeconds`; null until measurable. */
  rowsPerMinute: number | null;
  etaSeconds: number | null;
  elapsedSeconds: number;
  workers: number;
  /** From a rehearsal, when there is one. */
  expectedSeconds: number | null;
  slowerThanPredicted: boolean;
}

type Range = readonly [prefix: string, start: number, end: number];

/**
 * The phases of CREATE INDEX CONCURRENTLY in order, with the share of the whole each gets.
 * Loading rows into the graph dominates; the validation pass re-reads the table once.
 */
const concurrentPhases: readonly Range[] = [
  ['initializing', 0, 0.01],
  ['waiting for writers before build', 0.01, 0.02],
  ['building index', 0.02, 0.9],
  ['waiting for writers before validation', 0.9, 0.91],
  ['index validation: scanning index', 0.91, 0.94],
  ['index validation: sorting tuples', 0.94, 0.95],
  ['index validation: scanning table', 0.95, 0.99],
  ['waiting for old snapshots', 0.99, 0.995],
];

const blockingPhases: readonly Range[] = [
  ['initializing', 0, 0.01],
  ['building index', 0.01, 0.99],
];

/** IVFFlat's sub-phases inside "building index": k-means, assigning rows to lists, writing. */
const ivfflatSubphases: readonly Range[] = [
  ['building index: initializing', 0, 0],
  ['building index: performing k-means', 0, 0.3],
  ['building index: assigning tuples', 0.3, 0.7],
  ['building index: loading tuples', 0.7, 1],
];

function ratio(done: number, total: number): number {
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
}

/** Share of the current phase that is done, from whichever counters that phase reports. */
function withinPhase(sample: ProgressSample, method: AnnMethod, rowsTotal: number): number {
  const { phase } = sample;
  if (phase.startsWith('waiting')) return ratio(sample.lockersDone, sample.lockersTotal);
  if (phase.startsWith('building index')) {
    if (method === 'ivfflat') {
      const sub = ivfflatSubphases.find(([prefix]) => phase === prefix);
      if (sub) {
        const inner =
          sample.tuplesTotal > 0
            ? ratio(sample.tuplesDone, sample.tuplesTotal)
            : ratio(sample.blocksDone, sample.blocksTotal);
        return sub[1] + (sub[2] - sub[1]) * inner;
      }
    }
    // HNSW reports the heap scan's blocks (exact) and rows inserted (no total): use blocks.
    if (sample.blocksTotal > 0) return ratio(sample.blocksDone, sample.blocksTotal);
    return ratio(sample.tuplesDone, rowsTotal);
  }
  if (sample.blocksTotal > 0) return ratio(sample.blocksDone, sample.blocksTotal);
  return ratio(sample.tuplesDone, sample.tuplesTotal);
}

/**
 * Overall fraction of one CREATE INDEX, or undefined for a phase this version does not know
 * (the caller keeps the previous value then).
 */
export function progressFraction(
  sample: ProgressSample,
  options: { method: AnnMethod; concurrent: boolean; rowsTotal: number },
): number | undefined {
  const phases = options.concurrent ? concurrentPhases : blockingPhases;
  const range = phases.find(([prefix]) => sample.phase.startsWith(prefix));
  if (!range) return undefined;
  return range[1] + (range[2] - range[1]) * withinPhase(sample, options.method, options.rowsTotal);
}

/** Rows loaded into the index so far (HNSW counts them; otherwise estimated from blocks). */
export function rowsDone(sample: ProgressSample, rowsTotal: number): number {
  if (sample.phase.startsWith('building index')) {
    if (sample.tuplesDone > 0) return sample.tuplesDone;
    return Math.round(ratio(sample.blocksDone, sample.blocksTotal) * rowsTotal);
  }
  const after =
    sample.phase.startsWith('index validation') || sample.phase === 'waiting for writers before validation';
  return after || sample.phase === 'waiting for old snapshots' ? rowsTotal : 0;
}
