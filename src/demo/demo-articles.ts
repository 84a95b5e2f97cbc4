import type { Database } from '../db/database.js';

/**
 * The demo's help-centre articles: long markdown text, indexed as a chunked collection (each
 * section its own chunks, searched by the best chunk: docs/configuration.md#chunking).
 */
export const demoArticlesTableSql = `
CREATE TABLE IF NOT EXISTS public.articles (
  article_id int PRIMARY KEY,
  tenant_id text NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  version bigint NOT NULL DEFAULT 0
)`;

export const demoArticlesCollection = {
  table: 'public.articles',
  primaryKey: 'article_id',
  tenantColumn: 'tenant_id',
  versionColumn: 'version',
  manageVersion: true,
  text: '# {{title}}\n\n{{body}}',
  keywordFields: ['title', 'body'],
  payloadFields: ['title'],
  chunking: { splitter: 'markdown' as const, size: 400, overlap: 0 },
  store: 'main',
  embedder: 'default',
};

const articles: Array<[string, string]> = [
  [
    'Returns and refunds',
    `## How to return an item
You can return any unworn item within 30 days of delivery. Pack it in its original bag with the tags attached, print the prepaid label from your order page and drop the parcel at any post office.

## When you get your money back
Refunds are issued to the original payment method within five working days of the parcel reaching our warehouse. Gift card purchases are refunded as store credit.

## Items that cannot be returned
Underwear, swimwear with a removed hygiene strip, pierced jewellery and personalised items cannot be returned unless they are faulty.`,
  ],
  [
    'Shipping and delivery',
    `## Delivery options
Standard delivery takes three to five working days and is free on orders over 40. Express delivery arrives the next working day when you order before 2 pm.

## Tracking your parcel
Every order gets a tracking link by email as soon as it leaves the warehouse. If the link shows no movement for three days, contact customer service with your order number.

## Delivering abroad
We ship to most countries in Europe. Customs duties outside the EU are paid by the recipient; the carrier collects them before handing over the parcel.`,
  ],
  [
    'Size guide',
    `## Finding your size
Measure your chest at its fullest point, your waist at its narrowest and your hips at their fullest, with the tape level all the way round. Compare the numbers with the table on each product page.

## Between two sizes
If your measurements fall between two sizes, choose the larger one for relaxed and oversized fits, and the smaller one for fitted and ribbed knitwear, which stretches with wear.

## Shoes
Stand on a sheet of paper, mark your heel and longest toe, and measure the distance in centimetres. Our boots run half a size large; trainers are true to size.`,
  ],
  [
    'Caring for your clothes',
    `## Washing
Wash dark colours inside out at 30 degrees to keep them from fading. Wool and cashmere should be washed by hand or on a wool cycle, then dried flat, away from direct heat.

## Drying and ironing
Tumble drying shrinks cotton and linen; hang them to dry instead. Iron linen while it is still slightly damp, and silk on its reverse side at a low setting.

## Storing
Fold knitwear rather than hanging it, so the shoulders keep their shape. A cedar block in the wardrobe keeps moths away from wool.`,
  ],
  [
    'Gift cards',
    `## Buying a gift card
Gift cards come as an email with a code, or as a printed card in a gift envelope. Any amount from 10 to 500 can be loaded.

## Using a gift card
Enter the code at checkout; the remaining balance stays on the card for the next order. A gift card is valid for two years from the date of purchase and cannot be exchanged for cash.`,
  ],
  [
    'Keeping your account secure',
    `## Passwords
Use a password of at least twelve characters that you use nowhere else. We never ask for your password by email or phone.

## Two-step sign-in
Turn on two-step sign-in in your account settings: after your password, you confirm each new device with a code from an authenticator app.

## Suspicious messages
If you receive an email asking you to confirm payment details, do not click its links. Forward it to our security team and delete it.`,
  ],
];

/** Loads the articles into the given tenants (once: an existing row is left as it is). */
export async function loadDemoArticles(db: Database, tenants: readonly string[]): Promise<number> {
  const ids: number[] = [];
  const owners: string[] = [];
  const titles: string[] = [];
  const bodies: string[] = [];
  tenants.forEach((tenant, t) => {
    articles.forEach(([title, body], index) => {
      ids.push(t * 1000 + index + 1);
      owners.push(tenant);
      titles.push(title);
      bodies.push(body);
    });
  });
  const result = await db.query(
    `INSERT INTO articles (article_id, tenant_id, title, body) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])
     ON CONFLICT DO NOTHING`,
    [ids, owners, titles, bodies],
  );
  return result.rowCount ?? 0;
}
