-- vectorsync schema, version 8: a CDC consumer's death counts against the change it was applying
-- alone only while that apply was really under way. When it started; null while it waits for a
-- source, store, embedder or bus that is away, once its consumer gave the session up, and before
-- a new holder of the slot has started it again. A marker written before the server last
-- started is not counted either (the session ended with the server, its holder usually alive).
ALTER TABLE vectorsync.cdc_progress ADD COLUMN IF NOT EXISTS applying_since timestamptz;
