-- vectorsync schema, version 9: every index version records the embedder config that built it,
-- so every process writes and searches that version with that embedder, whatever its own config
-- names. That is what lets a new version with another model be built beside the one serving
-- (`vectorsync reembed`). Versions recorded before this get it filled in by the first process
-- whose configured embedder has their model and dimensions.
ALTER TABLE vectorsync.indexes ADD COLUMN IF NOT EXISTS embedder_config jsonb;
