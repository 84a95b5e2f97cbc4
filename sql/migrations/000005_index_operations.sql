-- vectorsync schema, version 5: safe index operations (src/indexops).

-- Every ANN index operation (build, rebuild, rehearsal) with who ran it, what it was asked to
-- do, the abort criteria declared before it started, its progress while it runs and its
-- outcome. A row in state 'running' names its owner (heartbeat) and the Postgres backend
-- doing the work (pid + backend_start, so a reused pid is never mistaken for it): another
-- process can abort it, and the next command cleans up after an owner that died.
CREATE TABLE IF NOT EXISTS vectorsync.index_operations (
  id bigserial PRIMARY KEY,
  collection text NOT NULL,
  -- vectorsync.indexes row (the index version whose table holds the ANN index).
  index_id int,
  kind text NOT NULL CHECK (kind IN ('build', 'rebuild', 'rehearse')),
  -- NULL: the whole collection; otherwise a partial index WHERE tenant = this.
  tenant text,
  method text NOT NULL CHECK (method IN ('hnsw', 'ivfflat')),
  params jsonb NOT NULL DEFAULT '{}',
  concurrent boolean NOT NULL DEFAULT true,
  -- Required (and recorded) for a blocking build.
  reason text,
  requested_by text NOT NULL,
  state text NOT NULL DEFAULT 'running'
    CHECK (state IN ('running', 'succeeded', 'failed', 'aborted', 'crashed')),
  step text,
  index_name text,
  replaced_indexes text[] NOT NULL DEFAULT '{}',
  rows_at_start bigint,
  settings jsonb NOT NULL DEFAULT '{}',
  criteria jsonb NOT NULL DEFAULT '{}',
  progress jsonb,
  warnings jsonb NOT NULL DEFAULT '[]',
  result jsonb NOT NULL DEFAULT '{}',
  abort_requested_at timestamptz,
  abort_requested_by text,
  abort_reason text,
  error_code text,
  error text,
  owner text NOT NULL,
  backend_pid int,
  backend_start timestamptz,
  heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  CHECK (concurrent OR reason IS NOT NULL)
);

-- One operation at a time per collection: builds on one table conflict anyway (CREATE INDEX
-- CONCURRENTLY takes a self-conflicting lock), and a rehearsal beside a build would distort both.
CREATE UNIQUE INDEX IF NOT EXISTS index_operations_one_running
  ON vectorsync.index_operations (collection) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS index_operations_history
  ON vectorsync.index_operations (collection, id DESC);
