/** How much two rankings of the same query agree: what shadow reads report per query. */
export interface RankAgreement {
  /** |top-k(a) ∩ top-k(b)| / k (k = the longer list's length, at most `k`); 1 when both are empty. */
  overlap: number;
  /** Kendall's tau-b over the documents both returned (null with fewer than two in common). */
  kendallTau: number | null;
  /** Spearman's rho over the documents both returned, ranked within the common set (null with fewer than two). */
  spearman: number | null;
}

export function rankAgreement(a: readonly string[], b: readonly string[], k = 10): RankAgreement {
  const topA = a.slice(0, k);
  const topB = b.slice(0, k);
  const depth = Math.max(topA.length, topB.length);
  if (depth === 0) return { overlap: 1, kendallTau: null, spearman: null };
  const inB = new Map(topB.map((id, index) => [id, index]));
  const common = topA.filter((id) => inB.has(id));
  const overlap = common.length / depth;
  if (common.length < 2) return { overlap, kendallTau: null, spearman: null };
  // Positions of the common documents in each ranking (both orders are strict: no ties).
  const rankA = common.map((_, index) => index);
  const rankB = common.map((id) => inB.get(id)!);
  return { overlap, kendallTau: kendallTau(rankA, rankB), spearman: spearman(rankA, rankB) };
}

/** Kendall's tau for two strict rankings of the same items (no ties, so tau-a = tau-b). */
export function kendallTau(x: readonly number[], y: readonly number[]): number {
  let concordant = 0;
  let discordant = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const sign = Math.sign(x[i]! - x[j]!) * Math.sign(y[i]! - y[j]!);
      if (sign > 0) concordant++;
      else if (sign < 0) discordant++;
    }
  }
  const pairs = concordant + discordant;
  return pairs === 0 ? 1 : (concordant - discordant) / pairs;
}

/** Spearman's rho of two strict rankings, after re-ranking each within the common items. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const rx = denseRanks(x);
  const ry = denseRanks(y);
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (rx[i]! - ry[i]!) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

function denseRanks(values: readonly number[]): number[] {
  const order = values.map((value, index) => [value, index] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  order.forEach(([, index], rank) => {
    ranks[index] = rank;
  });
  return ranks;
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
}
