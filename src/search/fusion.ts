import type { SearchHit } from '../stores/vector-store.js';

export type SignalName = 'semantic' | 'keyword';

export interface SignalResult {
  name: SignalName;
  weight: number;
  hits: SearchHit[];
}

export interface FusedHit {
  id: string;
  score: number;
  version: number;
  payload: Record<string, unknown>;
  /** Rank (1-based) and raw score of the hit in each signal that returned it. */
  signals: Partial<Record<SignalName, { rank: number; score: number }>>;
  /** The matching chunks a signal found (the semantic one, over a chunked index). */
  chunks?: SearchHit['chunks'];
}

function collect(signals: readonly SignalResult[]): Map<string, FusedHit> {
  const fused = new Map<string, FusedHit>();
  for (const signal of signals) {
    signal.hits.forEach((hit, index) => {
      let entry = fused.get(hit.id);
      if (!entry) {
        entry = { id: hit.id, score: 0, version: hit.version, payload: hit.payload, signals: {} };
        fused.set(hit.id, entry);
      }
      entry.signals[signal.name] = { rank: index + 1, score: hit.score };
      if (hit.chunks && !entry.chunks) entry.chunks = hit.chunks;
    });
  }
  return fused;
}

function ordered(hits: Iterable<FusedHit>): FusedHit[] {
  return [...hits].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Reciprocal Rank Fusion (Cormack et al. 2009): score(d) = Σ_s w_s / (k + rank_s(d)).
 * It needs no score calibration between signals, which is why it is the default.
 */
export function reciprocalRankFusion(signals: readonly SignalResult[], k = 60): FusedHit[] {
  const fused = collect(signals);
  for (const hit of fused.values()) {
    hit.score = signals.reduce((sum, signal) => {
      const rank = hit.signals[signal.name]?.rank;
      return rank === undefined ? sum : sum + signal.weight / (k + rank);
    }, 0);
  }
  return ordered(fused.values());
}

/**
 * Weighted score fusion: each signal's scores are normalised over its own candidates
 * (min-max to [0, 1], or z-score), then summed with the signal weights. A document a signal
 * did not return gets that signal's lowest normalised value.
 */
export function weightedScoreFusion(
  signals: readonly SignalResult[],
  normalization: 'minmax' | 'zscore',
): FusedHit[] {
  const fused = collect(signals);
  const normalisers = new Map<SignalName, { normalise: (score: number) => number; floor: number }>();
  for (const signal of signals) {
    const scores = signal.hits.map((hit) => hit.score);
    if (scores.length === 0) continue;
    if (normalization === 'minmax') {
      const min = Math.min(...scores);
      const max = Math.max(...scores);
      const span = max - min;
      normalisers.set(signal.name, {
        normalise: (score) => (span === 0 ? 1 : (score - min) / span),
        floor: 0,
      });
    } else {
      const mean = scores.reduce((sum, score) => sum + score, 0) / scores.length;
      const std = Math.sqrt(scores.reduce((sum, score) => sum + (score - mean) ** 2, 0) / scores.length);
      const normalise = (score: number) => (std === 0 ? 0 : (score - mean) / std);
      normalisers.set(signal.name, { normalise, floor: normalise(Math.min(...scores)) });
    }
  }
  for (const hit of fused.values()) {
    hit.score = signals.reduce((sum, signal) => {
      const normaliser = normalisers.get(signal.name);
      if (!normaliser) return sum;
      const raw = hit.signals[signal.name]?.score;
      return sum + signal.weight * (raw === undefined ? normaliser.floor : normaliser.normalise(raw));
    }, 0);
  }
  return ordered(fused.values());
}
