/**
 * Ranking metrics over graded judgments (higher gain = more relevant; gain ≤ 0 or unjudged =
 * not relevant). nDCG uses linear gains and log2 discounts, with the ideal ranking taken from
 * the judged documents, as the shared datasets' READMEs specify.
 */
export function dcg(gains: readonly number[]): number {
  return gains.reduce((sum, gain, index) => sum + gain / Math.log2(index + 2), 0);
}

export function ndcgAt(
  ranking: readonly string[],
  judgments: ReadonlyMap<string, number>,
  k: number,
): number {
  const gains = ranking.slice(0, k).map((id) => Math.max(0, judgments.get(id) ?? 0));
  const ideal = [...judgments.values()]
    .filter((gain) => gain > 0)
    .sort((a, b) => b - a)
    .slice(0, k);
  const idealDcg = dcg(ideal);
  return idealDcg === 0 ? 0 : dcg(gains) / idealDcg;
}

export function recallAt(
  ranking: readonly string[],
  judgments: ReadonlyMap<string, number>,
  k: number,
): number {
  const relevant = [...judgments].filter(([, gain]) => gain > 0).map(([id]) => id);
  if (relevant.length === 0) return 0;
  const retrieved = new Set(ranking.slice(0, k));
  return relevant.filter((id) => retrieved.has(id)).length / relevant.length;
}

export function reciprocalRankAt(
  ranking: readonly string[],
  judgments: ReadonlyMap<string, number>,
  k: number,
): number {
  const position = ranking.slice(0, k).findIndex((id) => (judgments.get(id) ?? 0) > 0);
  return position < 0 ? 0 : 1 / (position + 1);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}
