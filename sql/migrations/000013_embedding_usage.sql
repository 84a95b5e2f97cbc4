-- vectorsync schema, version 13: what embedding costs, and the budgets that cap it.
--
-- The ledger has one row per (day, collection, tenant, model, lane) and only ever adds to it:
-- requests and tokens sent to a billed provider, their cost at the configured price, and the
-- texts the embedding cache answered instead (with the tokens and money that saved). Tenant ''
-- is a collection without tenants. Lane: 'sync' (live changes, backfills and fills through
-- the synchronous API), 'batch' (the provider's batch API) or 'query' (search queries).
CREATE TABLE IF NOT EXISTS vectorsync.embedding_usage (
  day date NOT NULL,
  collection text NOT NULL,
  tenant text NOT NULL,
  model text NOT NULL,
  lane text NOT NULL CHECK (lane IN ('sync', 'batch', 'query')),
  requests bigint NOT NULL DEFAULT 0,
  texts bigint NOT NULL DEFAULT 0,
  tokens bigint NOT NULL DEFAULT 0,
  -- Tokens counted by our tokenizer because the provider's answer had no usage.
  estimated_tokens bigint NOT NULL DEFAULT 0,
  -- NULL while no price is configured for the model: unknown, never guessed as 0.
  cost_usd numeric,
  cached_texts bigint NOT NULL DEFAULT 0,
  cached_tokens bigint NOT NULL DEFAULT 0,
  saved_usd numeric,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (day, collection, tenant, model, lane)
);
CREATE INDEX IF NOT EXISTS embedding_usage_collection ON vectorsync.embedding_usage (collection, day);

-- A budget caps a collection's spend (tenant '') or one tenant's, per UTC day or calendar month.
-- Reaching it pauses embedding for that scope; nothing is dropped, and raising it resumes.
CREATE TABLE IF NOT EXISTS vectorsync.embedding_budgets (
  collection text NOT NULL,
  tenant text NOT NULL DEFAULT '',
  period text NOT NULL CHECK (period IN ('day', 'month')),
  limit_usd numeric NOT NULL CHECK (limit_usd >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, tenant, period)
);
