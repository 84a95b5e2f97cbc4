-- vectorsync schema, version 2: sync modes beyond the outbox.

-- Where an outbox event came from: 'trigger' (capture triggers), 'app' (vectorsync.enqueue),
-- 'backfill', 'dual-write' (an index write the request could not complete: drift), 'cdc' (a
-- change the CDC consumer could not apply) or 'reconcile'. Every sync mode uses the outbox as
-- its durable retry queue.
ALTER TABLE vectorsync.outbox ADD COLUMN origin text NOT NULL DEFAULT 'trigger';

CREATE OR REPLACE FUNCTION vectorsync.enqueue(
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
  INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version, origin)
  VALUES (p_collection, p_tenant, p_source_id, p_op, p_source_version, 'app')
  RETURNING id INTO v_id;
  PERFORM pg_notify('vectorsync_outbox', p_collection);
  RETURN v_id;
END
$$;

-- Where each CDC consumer has got to: what it has confirmed to its slot, and the commit time
-- of the last transaction it applied (lag in seconds is measured from it).
CREATE TABLE vectorsync.cdc_progress (
  slot text PRIMARY KEY,
  collections text[] NOT NULL,
  confirmed_lsn pg_lsn,
  last_commit_time timestamptz,
  last_applied_at timestamptz,
  -- Commit time of the oldest transaction received but not yet applied (null: none waiting).
  pending_since timestamptz,
  consumer text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every process that writes indexes (service, worker) and when it last reloaded the list of
-- live indexes. A new index being built beside the active one (replay, store migration) may
-- only start reading the source once every live writer writes to it too; otherwise a change
-- read by a writer that does not know the new index yet could be missing from it.
CREATE TABLE vectorsync.index_writers (
  id text PRIMARY KEY,
  hostname text NOT NULL,
  pid int NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  indexes_seen_at timestamptz
);

-- A sync-mode switch in progress: the new capture is installed beside the old one (the version
-- guard absorbs the overlap) until `vectorsync switch-mode finish` removes the old one. For a
-- switch away from CDC, the slot must first have confirmed switch_lsn (taken once the new
-- capture was committed), so every change the old capture took is applied.
ALTER TABLE vectorsync.collections
  ADD COLUMN switch_from text,
  ADD COLUMN switch_lsn pg_lsn,
  ADD COLUMN switch_started_at timestamptz;
