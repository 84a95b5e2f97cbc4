/**
 * A deterministic generator of fashion products shaped like the H&M Personalized Fashion
 * Recommendations catalog (article_id, name, description, product_type, product_group,
 * colour, department, index_name, price). Same seed, same catalog, on every machine.
 */
export interface DemoProduct {
  article_id: string;
  name: string;
  description: string;
  product_type: string;
  product_group: string;
  color: string;
  department: string;
  index_name: string;
  price: number;
}

const productTypes: Array<{ type: string; group: string; nouns: string[]; price: [number, number] }> = [
  { type: 'T-shirt', group: 'Garment Upper body', nouns: ['tee', 'T-shirt', 'top'], price: [6, 25] },
  { type: 'Sweater', group: 'Garment Upper body', nouns: ['jumper', 'sweater', 'cardigan'], price: [20, 60] },
  { type: 'Shirt', group: 'Garment Upper body', nouns: ['shirt', 'blouse', 'overshirt'], price: [15, 50] },
  { type: 'Hoodie', group: 'Garment Upper body', nouns: ['hoodie', 'sweatshirt'], price: [20, 45] },
  {
    type: 'Jacket',
    group: 'Garment Upper body',
    nouns: ['jacket', 'bomber', 'parka', 'blazer'],
    price: [40, 150],
  },
  {
    type: 'Trousers',
    group: 'Garment Lower body',
    nouns: ['trousers', 'chinos', 'joggers', 'cargo trousers'],
    price: [20, 60],
  },
  { type: 'Jeans', group: 'Garment Lower body', nouns: ['jeans', 'denim'], price: [25, 70] },
  { type: 'Shorts', group: 'Garment Lower body', nouns: ['shorts', 'bermudas'], price: [10, 35] },
  {
    type: 'Skirt',
    group: 'Garment Lower body',
    nouns: ['skirt', 'midi skirt', 'mini skirt'],
    price: [15, 45],
  },
  {
    type: 'Dress',
    group: 'Garment Full body',
    nouns: ['dress', 'maxi dress', 'shirt dress'],
    price: [20, 90],
  },
  { type: 'Jumpsuit/Playsuit', group: 'Garment Full body', nouns: ['jumpsuit', 'playsuit'], price: [25, 60] },
  { type: 'Sneakers', group: 'Shoes', nouns: ['trainers', 'sneakers'], price: [25, 90] },
  { type: 'Boots', group: 'Shoes', nouns: ['boots', 'ankle boots', 'Chelsea boots'], price: [40, 120] },
  { type: 'Sandals', group: 'Shoes', nouns: ['sandals', 'slides'], price: [15, 50] },
  { type: 'Bag', group: 'Accessories', nouns: ['tote bag', 'shoulder bag', 'backpack'], price: [15, 70] },
  { type: 'Hat/beanie', group: 'Accessories', nouns: ['beanie', 'cap', 'bucket hat'], price: [6, 25] },
  { type: 'Scarf', group: 'Accessories', nouns: ['scarf', 'shawl'], price: [8, 30] },
  { type: 'Bra', group: 'Underwear', nouns: ['bra', 'bralette'], price: [10, 35] },
  { type: 'Socks', group: 'Socks & Tights', nouns: ['socks', 'ankle socks'], price: [4, 15] },
  { type: 'Swimsuit', group: 'Swimwear', nouns: ['swimsuit', 'bikini top', 'swim shorts'], price: [15, 40] },
];

const colors = [
  'Black',
  'White',
  'Dark Blue',
  'Light Blue',
  'Grey',
  'Beige',
  'Dark Green',
  'Red',
  'Pink',
  'Yellow',
  'Light Orange',
  'Brown',
  'Khaki green',
  'Off White',
  'Lilac Purple',
];

const indexes: Array<{ index: string; departments: string[] }> = [
  {
    index: 'Ladieswear',
    departments: ['Womens Casual', 'Womens Tailoring', 'Womens Everyday Basics', 'Womens Lingerie'],
  },
  { index: 'Menswear', departments: ['Mens Casual', 'Mens Tailoring', 'Mens Sport', 'Mens Outerwear'] },
  { index: 'Divided', departments: ['Divided Basics', 'Divided Projects', 'Divided Collection'] },
  { index: 'Baby/Children', departments: ['Kids Girl', 'Kids Boy', 'Baby Essentials'] },
  { index: 'Sport', departments: ['Ladies Sport', 'Mens Sport Active', 'Kids Sport'] },
];

const adjectives = [
  'Relaxed',
  'Slim',
  'Oversized',
  'Cropped',
  'Fitted',
  'Wide',
  'Ribbed',
  'Linen',
  'Cotton',
  'Wool-blend',
  'Denim',
  'Padded',
  'Pleated',
  'Fleece',
  'Satin',
  'Knitted',
  'Waterproof',
  'Recycled',
  'Soft',
  'Classic',
];

const features = [
  'with a round neckline and short sleeves',
  'with long sleeves and ribbed cuffs',
  'with a zip fly and button',
  'with side pockets and an elasticated waist',
  'with a hood and kangaroo pocket',
  'in a soft, breathable fabric',
  'made from organic cotton',
  'with a water-repellent finish',
  'with adjustable straps',
  'with a regular fit and straight legs',
  'with a loose fit that drapes softly',
  'lined with warm fleece',
  'with a high waist and tapered legs',
  'with a printed pattern',
  'with a cushioned sole for all-day comfort',
];

const occasions = [
  'Perfect for everyday wear.',
  'Ideal for the office.',
  'Great for weekends away.',
  'Made for training and running.',
  'A wardrobe essential.',
  'Designed for cold winter days.',
  'Light enough for summer evenings.',
  'Easy to dress up or down.',
];

/** Mulberry32: tiny, fast, good enough for test data, and identical everywhere. */
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

export function* generateCatalog(count: number, seed = 42): Generator<DemoProduct> {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  for (let i = 0; i < count; i++) {
    const kind = pick(productTypes);
    const color = pick(colors);
    const family = pick(indexes);
    const adjective = pick(adjectives);
    const noun = pick(kind.nouns);
    const [low, high] = kind.price;
    const price = Math.round((low + next() * (high - low)) * 100) / 100 - 0.01;
    yield {
      // H&M article ids: 10 digits. Different seeds give disjoint ids (1000003 is prime).
      article_id: String((108775000 + seed * 1_000_003 + i * 37) % 10_000_000_000).padStart(10, '0'),
      name: `${adjective} ${noun}`,
      description: `${adjective} ${noun} in ${color.toLowerCase()} ${pick(features)}. ${pick(occasions)}`,
      product_type: kind.type,
      product_group: kind.group,
      color,
      department: pick(family.departments),
      index_name: family.index,
      price: Math.max(0.99, Math.round(price * 100) / 100),
    };
  }
}
