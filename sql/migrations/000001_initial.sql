-- vectorsync schema, version 1: registry of collections and index versions, the outbox,
-- workers, API keys and the embedding cache.

CREATE TABLE vectorsync.collections (
  name text PRIMARY KEY,
  source_table text NOT NULL,
  primary_key text NOT NULL,
  tenant_column text NOT NULL,
  version_column text NOT NULL,
  sync_mode text NOT NULL,
  capture_installed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per physical index built for a collection. A collection has at most one active
-- index; a new embedder or store builds a new row beside it (state 'building').
CREATE TABLE vectorsync.indexes (
  id serial PRIMARY KEY,
  collection text NOT NULL REFERENCES vectorsync.collections (name) ON DELETE CASCADE,
  store text NOT NULL,
  store_kind text NOT NULL,
  location text NOT NULL,
  embedder_model text NOT NULL,
  dimensions int NOT NULL CHECK (dimensions > 0),
  params jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL CHECK (state IN ('building', 'active', 'retired')),
  created_at timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz,
  retired_at timestamptz
);
CREATE UNIQUE INDEX indexes_one_active_per_collection ON vectorsync.indexes (collection) WHERE state = 'active';

-- The transactional outbox. An event says "this source row changed"; workers re-read the
-- row when they apply it, so an event never carries a stale copy of the data.
CREATE TABLE vectorsync.outbox (
  id bigserial PRIMARY KEY,
  collection text NOT NULL,
  tenant text NOT NULL,
  source_id text NOT NULL,
  op text NOT NULL CHECK (op IN ('upsert', 'delete', 'truncate')),
  source_version bigint,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'done', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  run_after timestamptz NOT NULL DEFAULT clock_timestamp(),
  locked_by text,
  locked_at timestamptz,
  last_error text,
  last_error_code text,
  -- clock_timestamp(), not now(): lag is measured from the write, not from the start of a
  -- long transaction.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  processed_at timestamptz,
  source_txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX outbox_claimable ON vectorsync.outbox (run_after, id) WHERE status = 'pending';
CREATE INDEX outbox_processing ON vectorsync.outbox (locked_by) WHERE status = 'processing';
CREATE INDEX outbox_failed ON vectorsync.outbox (collection, id) WHERE status = 'failed';
CREATE INDEX outbox_done ON vectorsync.outbox (processed_at) WHERE status = 'done';

CREATE FUNCTION vectorsync.enqueue(
  p_collection text,
  p_tenant text,
  p_source_id text,
  p_op text DEFAULT 'upsert',
  p_source_version bigint DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM vectorsync.collections WHERE name = p_collection) THEN
    RAISE EXCEPTION 'vectorsync: unknown collection "%"', p_collection
      USING ERRCODE = 'undefined_object', HINT = 'declare it in the config and run vectorsync setup';
  END IF;
  IF p_tenant IS NULL OR p_source_id IS NULL THEN
    RAISE EXCEPTION 'vectorsync: enqueue needs a tenant and a source id (collection "%")', p_collection
      USING ERRCODE = 'not_null_violation';
  END IF;
  INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version)
  VALUES (p_collection, p_tenant, p_source_id, p_op, p_source_version)
  RETURNING id INTO v_id;
  PERFORM pg_notify('vectorsync_outbox', p_collection);
  RETURN v_id;
END
$$;

-- A global, monotonic row version for tables that let vectorsync manage their version column.
CREATE SEQUENCE vectorsync.row_version;

CREATE TABLE vectorsync.workers (
  id text PRIMARY KEY,
  hostname text NOT NULL,
  pid int NOT NULL,
  collections text[] NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vectorsync.api_keys (
  id serial PRIMARY KEY,
  name text NOT NULL,
  tenant text,
  is_admin boolean NOT NULL DEFAULT false,
  prefix text NOT NULL UNIQUE,
  key_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  CHECK (is_admin OR tenant IS NOT NULL)
);

-- Vectors by content hash (which covers text, model and dimensions): unchanged text is
-- never embedded twice, across updates, deletes and rebuilds.
CREATE TABLE vectorsync.embedding_cache (
  content_hash text PRIMARY KEY,
  model text NOT NULL,
  dimensions int NOT NULL,
  vector bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
