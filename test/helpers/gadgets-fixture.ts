import { parseConfig, type ResolvedConfig } from '../../src/config/resolve-config.js';
import type { SqlExecutor } from '../../src/db/database.js';
import { fastSync } from './products-fixture.js';

/** A source table with a column of every type the filter and document checks treat apart. */
export const gadgetsTableSql = `
CREATE TABLE public.gadgets (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  name text NOT NULL,
  code varchar(8),
  made_at timestamptz,
  local_at timestamp,
  born date,
  small int2,
  qty int4,
  big int8,
  price numeric(6, 2),
  ratio float4,
  score float8,
  active boolean,
  tags text[],
  counts int4[],
  attrs jsonb,
  raw json,
  version bigint NOT NULL DEFAULT 0
)`;

export const gadgetPayloadFields = [
  'name',
  'made_at',
  'local_at',
  'born',
  'small',
  'qty',
  'big',
  'price',
  'ratio',
  'score',
  'active',
  'tags',
  'counts',
  'attrs',
];

export async function createGadgetsTable(db: SqlExecutor): Promise<void> {
  await db.query(gadgetsTableSql);
}

export function gadgetsConfig(databaseUrl: string): ResolvedConfig {
  return parseConfig({
    databaseUrl,
    sync: fastSync,
    embedders: { default: { provider: 'hash', dimensions: 32 } },
    stores: { main: { provider: 'pgvector' } },
    collections: {
      gadgets: {
        table: 'public.gadgets',
        primaryKey: 'id',
        tenantColumn: 'tenant_id',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{name}}',
        keywordFields: ['name'],
        payloadFields: gadgetPayloadFields,
        store: 'main',
        embedder: 'default',
      },
    },
  });
}
