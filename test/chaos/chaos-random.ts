/**
 * The suite's only source of randomness: a seeded generator (mulberry32), so a seed replays
 * the same workload and fault schedule (timings differ, decisions do not).
 */
export class ChaosRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One of the keys, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [key, weight] of entries) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return entries.at(-1)![0];
  }

  /** A child generator for an independent stream of decisions (one per session). */
  fork(label: number): ChaosRandom {
    return new ChaosRandom((this.seed * 0x9e3779b1 + label * 0x85ebca6b) >>> 0);
  }
}

const WORDS = [
  'linen',
  'shirt',
  'wool',
  'coat',
  'denim',
  'jacket',
  'cotton',
  'dress',
  'silk',
  'scarf',
  'leather',
  'boots',
  'summer',
  'winter',
  'striped',
  'navy',
  'black',
  'white',
  'slim',
  'relaxed',
  'classic',
  'vintage',
  'organic',
  'knit',
  'sweater',
  'trousers',
  'skirt',
  'blazer',
  'hoodie',
  'sneakers',
  'café',
  'naïve',
  'straße',
  'ünïcödé',
  '東京',
  'données',
  'ελληνικά',
  '42',
  '2026',
  'x-large',
];

export function words(random: ChaosRandom, count: number): string {
  return Array.from({ length: count }, () => random.pick(WORDS)).join(' ');
}

/**
 * A body large enough to be stored out of line (TOAST) even after compression: words, as real
 * long text is. (Random letters would also make every such body a few thousand new terms of
 * the BM25 dictionary, which measures that dictionary, not sync.)
 */
export function toastText(random: ChaosRandom, bytes: number): string {
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    const word = random.chance(0.3) ? `${random.pick(WORDS)}${random.int(0, 99)}` : random.pick(WORDS);
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(' ');
}
