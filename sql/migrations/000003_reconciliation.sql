-- vectorsync schema, version 3: reconciliation.

-- One row per finished reconciliation run (completed, aborted or failed) with its report:
-- counts and sample ids of missing, orphaned, stale and unbuildable records, and what a fix
-- repaired. `GET /v1/sync/status` shows the latest per collection.
CREATE TABLE IF NOT EXISTS vectorsync.reconcile_runs (
  id bigserial PRIMARY KEY,
  collection text NOT NULL,
  tenant text,
  index_id int,
  mode text NOT NULL CHECK (mode IN ('report', 'dry-run', 'fix')),
  trigger text NOT NULL,
  status text NOT NULL CHECK (status IN ('completed', 'aborted', 'failed')),
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  in_sync boolean NOT NULL,
  report jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS reconcile_runs_latest ON vectorsync.reconcile_runs (collection, id DESC);

-- pgvector index tables in this database get their id bucket (the first 16 bits of md5(id),
-- src/stores/id-bucket.ts) as a stored generated column with a (bucket, id) btree, so
-- reconciliation reads them by bucket range. Tables in another database get it from
-- `vectorsync setup` (the store's ensureIndex does the same, idempotently).
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT i.location FROM vectorsync.indexes i
      JOIN pg_class c ON c.relname = i.location
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'vectorsync'
     WHERE i.store_kind = 'pgvector' AND c.relkind = 'r'
  LOOP
    EXECUTE format(
      'ALTER TABLE vectorsync.%I ADD COLUMN IF NOT EXISTS bucket int GENERATED ALWAYS AS ((''x'' || left(md5(id::text), 4))::bit(16)::int) STORED',
      t.location);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON vectorsync.%I (bucket, id)', t.location || '_bucket', t.location);
  END LOOP;
END
$$;
