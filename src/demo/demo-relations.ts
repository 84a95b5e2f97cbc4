import type { Database } from '../db/database.js';

/**
 * The demo catalog's related tables: each product has a brand (many-to-one) and variants
 * (one-to-many: colours and sizes in stock), and its search document is built from all three
 * (docs/configuration.md#relations). Deterministic, like the catalog.
 */
export const demoRelatedTablesSql = [
  `CREATE TABLE IF NOT EXISTS public.brands (
     brand_id int PRIMARY KEY,
     name text NOT NULL,
     country text)`,
  `ALTER TABLE public.products ADD COLUMN IF NOT EXISTS brand_id int`,
  `CREATE INDEX IF NOT EXISTS products_brand_id_idx ON public.products (brand_id)`,
  `CREATE TABLE IF NOT EXISTS public.product_variants (
     variant_id bigint PRIMARY KEY,
     article_id varchar(20) NOT NULL,
     color varchar(50),
     size varchar(10),
     stock int NOT NULL DEFAULT 0)`,
  `CREATE INDEX IF NOT EXISTS product_variants_article_id_idx ON public.product_variants (article_id)`,
];

/** The demo collection's relations, fields and payload additions. */
export const demoRelations = {
  relations: {
    brand: { table: 'public.brands', kind: 'one' as const, foreignKey: 'brand_id' },
    variants: {
      table: 'public.product_variants',
      kind: 'many' as const,
      foreignKey: 'article_id',
      orderBy: ['variant_id'],
    },
  },
  text: '{{name}} by {{brand.name}}. {{product_type}} in {{variants.color | distinct}} from {{department}}, sizes {{variants.size | distinct}}. {{description}}',
  keywordFields: ['name', 'brand.name', 'product_type', 'variants.color', 'description'],
  payloadFields: [
    { name: 'brand', value: 'brand.name' },
    { name: 'colors', value: 'variants.color | distinct' },
    { name: 'sizes', value: 'variants.size | distinct' },
    { name: 'variant_count', value: 'variants | count' },
  ],
};

const brands: Array<[string, string]> = [
  ['Northwind', 'SE'],
  ['Fjord & Pine', 'NO'],
  ['Atelier Lune', 'FR'],
  ['Harbour Street', 'GB'],
  ['Kestrel', 'DE'],
  ['Solstice', 'ES'],
  ['Maple Thread', 'CA'],
  ['Urban Tide', 'NL'],
  ['Juniper', 'DK'],
  ['Cobalt Works', 'IT'],
];

const colors = ['Black', 'White', 'Navy', 'Grey', 'Beige', 'Red', 'Green', 'Yellow', 'Pink', 'Blue'];
const sizes = ['XS', 'S', 'M', 'L', 'XL'];

/** The brands, then a brand and one to four variants for each product that has none yet. */
export async function loadDemoRelations(db: Database, articleIds: readonly string[]): Promise<void> {
  await db.query(
    `INSERT INTO brands (brand_id, name, country) SELECT * FROM unnest($1::int[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
    [brands.map((_, index) => index + 1), brands.map(([name]) => name), brands.map(([, country]) => country)],
  );
  const variantIds: number[] = [];
  const variantArticles: string[] = [];
  const variantColors: string[] = [];
  const variantSizes: string[] = [];
  const brandOf: number[] = [];
  articleIds.forEach((articleId, index) => {
    // Hashed, so that brands, colours and sizes are not correlated with each other.
    brandOf.push(1 + (mix(index, 1) % brands.length));
    const count = 1 + (mix(index, 2) % 4);
    for (let variant = 0; variant < count; variant++) {
      variantIds.push(index * 10 + variant + 1);
      variantArticles.push(articleId);
      variantColors.push(colors[mix(index, 3 + variant) % colors.length]!);
      variantSizes.push(sizes[mix(index, 10 + variant) % sizes.length]!);
    }
  });
  await db.query(
    `UPDATE products p SET brand_id = u.brand_id FROM unnest($1::text[], $2::int[]) AS u(article_id, brand_id)
      WHERE p.article_id = u.article_id AND p.brand_id IS NULL`,
    [articleIds, brandOf],
  );
  for (let start = 0; start < variantIds.length; start += 5000) {
    const end = start + 5000;
    await db.query(
      `INSERT INTO product_variants (variant_id, article_id, color, size, stock)
       SELECT u.*, 10 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u ON CONFLICT DO NOTHING`,
      [
        variantIds.slice(start, end),
        variantArticles.slice(start, end),
        variantColors.slice(start, end),
        variantSizes.slice(start, end),
      ],
    );
  }
}

/** A deterministic 32-bit hash of (n, salt) (Knuth's multiplicative hash, mixed twice). */
function mix(n: number, salt: number): number {
  let x = Math.imul(n + 1, 2654435761) ^ Math.imul(salt, 40503);
  x = Math.imul(x ^ (x >>> 15), 2246822519);
  return (x ^ (x >>> 13)) >>> 0;
}
