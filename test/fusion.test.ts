import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reciprocalRankFusion, type SignalResult, weightedScoreFusion } from '../src/search/fusion.js';

const hit = (id: string, score: number) => ({ id, score, version: 1, payload: {} });

// Semantic ranks a > b > c; keyword ranks c > d > a.
const signals = (semanticWeight = 1, keywordWeight = 1): SignalResult[] => [
  { name: 'semantic', weight: semanticWeight, hits: [hit('a', 0.9), hit('b', 0.8), hit('c', 0.5)] },
  { name: 'keyword', weight: keywordWeight, hits: [hit('c', 12), hit('d', 6), hit('a', 3)] },
];

describe('fusion on a hand-made example', () => {
  it('RRF sums 1/(k + rank) across signals', () => {
    const fused = reciprocalRankFusion(signals(), 60);
    const expected = {
      a: 1 / 61 + 1 / 63,
      b: 1 / 62,
      c: 1 / 63 + 1 / 61,
      d: 1 / 62,
    };
    // a and c tie (ranks 1+3 each); ties break by id.
    assert.deepEqual(
      fused.map((h) => h.id),
      ['a', 'c', 'b', 'd'],
    );
    for (const h of fused)
      assert.ok(Math.abs(h.score - expected[h.id as keyof typeof expected]) < 1e-12, h.id);
    assert.deepEqual(fused[0]!.signals, {
      semantic: { rank: 1, score: 0.9 },
      keyword: { rank: 3, score: 3 },
    });
    assert.deepEqual(fused[2]!.signals, { semantic: { rank: 2, score: 0.8 } });
  });

  it('RRF weights tilt the order', () => {
    // k=60, keyword ×3: a 1/61+3/63, c 1/63+3/61, d 3/62, b 1/62.
    assert.deepEqual(
      reciprocalRankFusion(signals(1, 3), 60).map((h) => h.id),
      ['c', 'a', 'd', 'b'],
    );
    // k=1, keyword ×10: a 1/2+10/4 = 3, c 1/4+10/2 = 5.25, d 10/3, b 1/3.
    assert.deepEqual(
      reciprocalRankFusion(signals(1, 10), 1).map((h) => h.id),
      ['c', 'd', 'a', 'b'],
    );
  });

  it('weighted min-max fusion normalises each signal to [0, 1]', () => {
    const fused = weightedScoreFusion(signals(), 'minmax');
    // semantic: a 1, b 0.75, c 0; keyword: c 1, d 1/3, a 0; missing = 0.
    const expected = { a: 1 + 0, b: 0.75 + 0, c: 0 + 1, d: 0 + 1 / 3 };
    assert.deepEqual(
      fused.map((h) => h.id),
      ['a', 'c', 'b', 'd'],
    );
    for (const h of fused)
      assert.ok(Math.abs(h.score - expected[h.id as keyof typeof expected]) < 1e-12, h.id);
  });

  it('weighted z-score fusion standardises each signal; a missing document gets the signal’s lowest', () => {
    const fused = weightedScoreFusion(signals(), 'zscore');
    const z = (values: number[], value: number) => {
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
      return (value - mean) / std;
    };
    const sem = [0.9, 0.8, 0.5];
    const key = [12, 6, 3];
    const expected = {
      a: z(sem, 0.9) + z(key, 3),
      b: z(sem, 0.8) + z(key, 3),
      c: z(sem, 0.5) + z(key, 12),
      d: z(sem, 0.5) + z(key, 6),
    };
    for (const h of fused)
      assert.ok(Math.abs(h.score - expected[h.id as keyof typeof expected]) < 1e-12, h.id);
    assert.equal(fused[0]!.id, 'c');
  });

  it('handles a signal with no hits', () => {
    const fused = reciprocalRankFusion([
      { name: 'semantic', weight: 1, hits: [hit('a', 1)] },
      { name: 'keyword', weight: 1, hits: [] },
    ]);
    assert.deepEqual(
      fused.map((h) => h.id),
      ['a'],
    );
    assert.deepEqual(weightedScoreFusion([{ name: 'keyword', weight: 1, hits: [] }], 'minmax'), []);
  });
});
