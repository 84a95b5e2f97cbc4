-- vectorsync schema, version 6: correctness under faults.

-- How many times a worker died (SIGKILL, OOM, a native crash) while it held this event. An
-- event that has killed a worker is claimed alone from then on, so it cannot take the events
-- batched with it down again, and after sync.maxCrashes it ends failed (WORKER_LOST) instead
-- of crashing worker after worker.
ALTER TABLE vectorsync.outbox ADD COLUMN IF NOT EXISTS crashes int NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS outbox_suspect ON vectorsync.outbox (run_after, id)
  WHERE status = 'pending' AND crashes > 0;

-- CDC: what the consumer is applying right now, so that the next holder of the slot knows
-- when its predecessor died applying it (the slot resends those changes) and applies them one
-- by one; a change that has killed sync.maxCrashes consumers ends in the failed list instead
-- of a crash loop. And the transactions the stream delivered that no snapshot sees yet (a
-- writer waiting for a synchronous standby): the consumer waits for them, visibly.
ALTER TABLE vectorsync.cdc_progress
  ADD COLUMN IF NOT EXISTS applying_lsn pg_lsn,
  ADD COLUMN IF NOT EXISTS applying_event int,
  ADD COLUMN IF NOT EXISTS applying_by text,
  ADD COLUMN IF NOT EXISTS applying_crashes int NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS invisible_xids bigint[],
  ADD COLUMN IF NOT EXISTS invisible_since timestamptz;
