-- vectorsync schema, version 14: the embedding batch lane (src/embedders/embedding-batch-lane.ts).
-- A backfill or re-embed can send the texts missing from vectorsync.embedding_cache through
-- OpenAI's Batch API; the vectors land in the cache and the normal fill finds them there.
-- A provider batch runs for up to 24 hours, so what was submitted is kept here: a restarted
-- lane polls the batches it already paid for instead of submitting their texts again.
--
-- One row per batch file. Its life: created with its texts (status 'preparing'), the uploaded
-- file recorded (input_file_id, status 'uploaded'), then the provider batch recorded
-- (provider_batch_id, status as the provider reports it) and polled. `finished_at` is set once
-- its results are in the cache and its failed texts are in the next attempt's batch (or given
-- up): a batch is unfinished, and resumed, exactly while it is null.
CREATE TABLE IF NOT EXISTS vectorsync.embedding_batches (
  id bigserial PRIMARY KEY,
  collection text NOT NULL,
  -- The embedder's model id (openai:<model>) and dimensions: the key the cache's hashes cover.
  model text NOT NULL,
  dimensions int NOT NULL,
  provider_batch_id text UNIQUE,
  input_file_id text,
  output_file_id text,
  error_file_id text,
  status text NOT NULL,
  -- 1 for a first submission; a batch of texts that failed in attempt n has attempt n + 1.
  attempt int NOT NULL DEFAULT 1,
  request_count int NOT NULL,
  completed_count int NOT NULL DEFAULT 0,
  failed_count int NOT NULL DEFAULT 0,
  tokens bigint NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS embedding_batches_unfinished
  ON vectorsync.embedding_batches (collection, model, dimensions) WHERE finished_at IS NULL;

-- The texts (by content hash, the request's custom_id) of each batch. The texts themselves are
-- not kept: the provider has them in the input file, and the caller passes them again when a
-- batch that was never uploaded is resumed. A lane reads the texts of its unfinished batches
-- whole (by batch id), so no index on the hash alone.
CREATE TABLE IF NOT EXISTS vectorsync.embedding_batch_texts (
  batch_id bigint NOT NULL REFERENCES vectorsync.embedding_batches (id) ON DELETE CASCADE,
  content_hash text NOT NULL,
  PRIMARY KEY (batch_id, content_hash)
);
