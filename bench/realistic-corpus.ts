/**
 * A product corpus with a realistic vocabulary for search benchmarks: ~2,000 brands, a few
 * hundred product words, and descriptions whose words follow a Zipf distribution over a
 * ~12,000-word vocabulary (as real catalogs do), so some terms are very common and most are
 * rare. Queries look like shoppers' queries: 1 to 4 words, mostly brand, attribute and
 * product-type combinations, popular items more often. Deterministic for a given seed.
 */
export interface CorpusDocument {
  id: string;
  name: string;
  description: string;
  product_type: string;
  color: string;
  department: string;
  price: number;
}

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const syllables = [
  'ka',
  'lo',
  'mi',
  'ra',
  'ten',
  'vo',
  'sa',
  'dri',
  'bel',
  'nor',
  'ix',
  'qua',
  'zen',
  'pol',
  'mar',
  'ste',
  'fin',
  'gro',
  'lux',
  'tra',
];
const productTypes = [
  'jacket',
  'parka',
  'coat',
  'blazer',
  'shirt',
  'blouse',
  'tee',
  'hoodie',
  'sweater',
  'cardigan',
  'dress',
  'skirt',
  'jeans',
  'chinos',
  'trousers',
  'shorts',
  'leggings',
  'boots',
  'sneakers',
  'sandals',
  'loafers',
  'heels',
  'bag',
  'backpack',
  'wallet',
  'belt',
  'scarf',
  'beanie',
  'cap',
  'gloves',
  'socks',
  'swimsuit',
  'bikini',
  'pyjamas',
  'robe',
  'vest',
  'jumpsuit',
  'overalls',
  'poncho',
  'raincoat',
];
const colors = [
  'black',
  'white',
  'navy',
  'grey',
  'beige',
  'olive',
  'burgundy',
  'red',
  'pink',
  'yellow',
  'mustard',
  'teal',
  'turquoise',
  'lilac',
  'khaki',
  'cream',
  'charcoal',
  'coral',
  'mint',
  'rust',
  'sand',
  'indigo',
  'emerald',
  'ivory',
  'silver',
  'gold',
];
const materials = [
  'cotton',
  'linen',
  'wool',
  'merino',
  'cashmere',
  'denim',
  'leather',
  'suede',
  'silk',
  'satin',
  'velvet',
  'corduroy',
  'fleece',
  'nylon',
  'polyester',
  'recycled',
  'organic',
  'bamboo',
  'jersey',
  'tweed',
  'canvas',
  'mesh',
  'gore-tex',
  'down',
  'lyocell',
];
const adjectives = [
  'slim',
  'relaxed',
  'oversized',
  'cropped',
  'tailored',
  'waterproof',
  'breathable',
  'padded',
  'quilted',
  'stretch',
  'lightweight',
  'warm',
  'ribbed',
  'pleated',
  'wide',
  'tapered',
  'vintage',
  'classic',
  'essential',
  'premium',
  'sporty',
  'casual',
  'formal',
  'cosy',
  'printed',
  'striped',
  'checked',
  'floral',
  'embroidered',
  'distressed',
];
const departments = [
  'womens',
  'mens',
  'kids',
  'baby',
  'sport',
  'outdoor',
  'workwear',
  'maternity',
  'plus size',
  'teens',
];

/** Zipf(s≈1.07) over n items: rank r (0-based) with probability ∝ 1/(r+1)^s. */
function zipfSampler(n: number, next: () => number, s = 1.07): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) {
    total += 1 / (r + 1) ** s;
    cumulative[r] = total;
  }
  return () => {
    const target = next() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

function makeWord(next: () => number, parts: number): string {
  let word = '';
  for (let i = 0; i < parts; i++) word += syllables[Math.floor(next() * syllables.length)]!;
  return word;
}

export function buildVocabulary(seed = 11) {
  const next = random(seed);
  const brands = new Set<string>();
  while (brands.size < 2000) brands.add(makeWord(next, 2 + Math.floor(next() * 2)));
  // Descriptive vocabulary in Zipf rank order. The most frequent ranks are generated words that
  // play the part of a language's common words; the attribute words shoppers type sit at ranks
  // 300 to 430, like content words in real text.
  const seen = new Set<string>(brands);
  const generated: string[] = [];
  while (generated.length < 12_000) {
    const candidate = makeWord(next, 2 + Math.floor(next() * 3));
    if (!seen.has(candidate)) {
      seen.add(candidate);
      generated.push(candidate);
    }
  }
  const attributes = [
    ...adjectives,
    ...materials,
    ...colors,
    ...productTypes,
    ...[
      'pockets',
      'zip',
      'hood',
      'collar',
      'sleeves',
      'waist',
      'fit',
      'comfort',
      'summer',
      'winter',
      'office',
      'weekend',
      'travel',
      'hiking',
      'running',
      'yoga',
    ],
  ];
  const filler = [...generated.slice(0, 300), ...attributes, ...generated.slice(300)];
  return { brands: [...brands], filler };
}

export function* generateRealisticCorpus(count: number, seed = 5): Generator<CorpusDocument> {
  const next = random(seed);
  const vocabulary = buildVocabulary();
  const brand = zipfSampler(vocabulary.brands.length, next);
  const type = zipfSampler(productTypes.length, next, 0.8);
  const word = zipfSampler(vocabulary.filler.length, next);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  for (let i = 0; i < count; i++) {
    const productType = productTypes[type()]!;
    const color = pick(colors);
    const adjective = pick(adjectives);
    const material = pick(materials);
    const sentences: string[] = [];
    const sentenceCount = 2 + Math.floor(next() * 3);
    for (let s = 0; s < sentenceCount; s++) {
      const length = 6 + Math.floor(next() * 10);
      sentences.push(Array.from({ length }, () => vocabulary.filler[word()]!).join(' '));
    }
    yield {
      id: `P${String(i).padStart(8, '0')}`,
      name: `${vocabulary.brands[brand()]} ${adjective} ${material} ${productType}`,
      description: `${sentences.join('. ')}.`,
      product_type: productType,
      color,
      department: pick(departments),
      price: Math.round((5 + next() * 195) * 100) / 100,
    };
  }
}

export function realisticQueries(count: number, seed = 23): string[] {
  const next = random(seed);
  const vocabulary = buildVocabulary();
  const brand = zipfSampler(vocabulary.brands.length, next);
  const type = zipfSampler(productTypes.length, next, 0.8);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const noun = productTypes[type()]!;
    switch (i % 6) {
      case 0:
        return noun;
      case 1:
        return `${pick(colors)} ${noun}`;
      case 2:
        return `${vocabulary.brands[brand()]} ${noun}`;
      case 3:
        return `${pick(adjectives)} ${pick(materials)} ${noun}`;
      case 4:
        return `${pick(colors)} ${pick(materials)} ${noun} for ${pick(['summer', 'winter', 'office', 'hiking', 'running', 'travel'])}`;
      default:
        return `${vocabulary.brands[brand()]} ${pick(adjectives)} ${noun}`;
    }
  });
}
