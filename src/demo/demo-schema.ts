import type { ConfigInput } from '../config/config-schema.js';
import { demoArticlesCollection } from './demo-articles.js';
import { demoRelations } from './demo-relations.js';

/** The demo's source table, shaped like the H&M catalog in the context articles, plus a tenant. */
export const demoProductsTableSql = `
CREATE TABLE IF NOT EXISTS public.products (
  article_id varchar(20) PRIMARY KEY,
  tenant_id text NOT NULL,
  name varchar(255) NOT NULL,
  description text,
  product_type varchar(100),
  product_group varchar(100),
  color varchar(50),
  department varchar(100),
  index_name varchar(100),
  price numeric(10, 2),
  version bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
)`;

/** Marks the products table as the demo's own, so a second run on the same database may reuse it. */
export const DEMO_TABLE_COMMENT = 'vectorsync demo catalog';

/** The demo's collection config; tests reuse it so they exercise what a newcomer sees. */
export function demoConfig(
  options: {
    dimensions?: number;
    embedder?: ConfigInput['embedders'][string];
    /** Documents built from the product, its brand and its variants (what `npm run demo` runs). */
    relations?: boolean;
    /** The chunked help-centre articles collection (what `npm run demo` runs). */
    articles?: boolean;
  } = {},
): ConfigInput {
  const related = options.relations
    ? {
        relations: demoRelations.relations,
        text: demoRelations.text,
        keywordFields: demoRelations.keywordFields,
      }
    : {};
  return {
    embedders: { default: options.embedder ?? { provider: 'hash', dimensions: options.dimensions ?? 256 } },
    stores: { main: { provider: 'pgvector' } },
    collections: {
      products: {
        table: 'public.products',
        primaryKey: 'article_id',
        tenantColumn: 'tenant_id',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{name}}. {{product_type}} in {{color}} from {{department}}. {{description}}',
        keywordFields: ['name', 'product_type', 'color', 'description'],
        payloadFields: [
          'name',
          'product_type',
          'product_group',
          'color',
          'department',
          'index_name',
          'price',
          ...(options.relations ? demoRelations.payloadFields : []),
        ],
        store: 'main',
        embedder: 'default',
        ...related,
      },
      ...(options.articles ? { articles: demoArticlesCollection } : {}),
    },
  };
}
