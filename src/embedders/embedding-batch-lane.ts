import { setTimeout as delay } from 'node:timers/promises';
import type { EmbedderConfig } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import { coerceError, ErrorCode, isVectorsyncError, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EmbeddingCache } from '../pipeline/embedding-cache.js';
import { isBatchEnded, type OpenAiBatch, type OpenAiBatchApi } from './openai-batch-api.js';

export type OpenAiEmbedderConfig = Extract<EmbedderConfig, { provider: 'openai' }>;

export interface BatchLaneProgress {
  batches: number;
  /** Texts sent in provider batches by this run (retries included). */
  submitted: number;
  /** Vectors written to the cache by this run. */
  completed: number;
  /** Texts given up (left to the synchronous API). */
  failed: number;
  /** Texts in batches that have not ended. */
  pending: number;
}

export interface EmbeddingBatchLaneOptions {
  db: SqlExecutor;
  collection: string;
  config: OpenAiEmbedderConfig;
  /** The embedder's model id (openai:<model>); with `dimensions`, what the cache's hashes cover. */
  modelId: string;
  dimensions: number;
  cache: EmbeddingCache;
  api: OpenAiBatchApi;
  /** Exactly what to embed (the caller prepares and truncates), by content hash. */
  texts: ReadonlyArray<{ hash: string; text: string }>;
  /** Requests per batch file; OpenAI takes at most 50,000. */
  maxRequestsPerBatch?: number;
  /** Bytes per batch file; OpenAI takes at most 200 MB. */
  maxBatchFileBytes?: number;
  /** Batches a text may be in before it is left to the synchronous API. */
  maxAttempts?: number;
  pollIntervalMs?: number;
  /** true: poll until every batch ended; false: submit, look at each batch once, and return. */
  wait?: boolean;
  /** Stops between polls; every batch stays recorded and a later run resumes it. */
  signal?: AbortSignal;
  logger: Logger;
  /** Tokens and requests the provider billed, per harvested batch. */
  onUsage?: (tokens: number, requests: number) => void;
  onProgress?: (progress: BatchLaneProgress) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface BatchLaneBatch {
  /** vectorsync.embedding_batches.id */
  id: string;
  providerBatchId: string | null;
  status: string;
  attempt: number;
  requests: number;
  completed: number;
  failed: number;
}

export interface BatchLaneReport {
  batches: BatchLaneBatch[];
  submitted: number;
  /** Vectors written to the cache. */
  embedded: number;
  /** Texts that failed every attempt: the synchronous API embeds them when the fill reaches them. */
  failed: number;
  tokens: number;
  /** Texts in batches still running (wait: false). */
  pending: number;
}

const MAX_REQUESTS_PER_FILE = 50_000;
/** Under OpenAI's 200 MB, leaving room for the multipart envelope. */
const MAX_FILE_BYTES = 190 * 1024 * 1024;
const CACHE_PAGE = 1000;
/** Passes in a row a batch may meet a transient error before the run gives up (state stays). */
const MAX_TRANSIENT_PASSES = 10;

/** One batch file as the run tracks it; `finished` mirrors finished_at. */
interface LaneBatch {
  id: string;
  attempt: number;
  hashes: string[];
  inputFileId: string | null;
  providerBatchId: string | null;
  status: string;
  completed: number;
  failed: number;
  transientPasses: number;
  finished: boolean;
}

interface BatchResults {
  vectors: Map<string, Float32Array>;
  failures: Map<string, string>;
  tokens: number;
  billedRequests: number;
}

/**
 * Pre-warms the embedding cache through OpenAI's Batch API: the texts missing from the cache
 * go out as batch files (one request per text, custom_id = content hash), and the vectors
 * that come back are written to the cache, where the normal fill finds them. Every batch is
 * recorded in vectorsync.embedding_batches before anything is paid for, so a restarted run
 * polls the batches already running instead of submitting their texts again.
 */
export async function runEmbeddingBatchLane(options: EmbeddingBatchLaneOptions): Promise<BatchLaneReport> {
  return new BatchLaneRun(options).execute();
}

class BatchLaneRun {
  private readonly texts = new Map<string, string>();
  private readonly batches: LaneBatch[] = [];
  /** Hash → the unfinished batch that has it: such a text is never submitted again. */
  private readonly inFlight = new Map<string, string>();
  private readonly maxAttempts: number;
  private readonly log: Logger;
  private submitted = 0;
  private embedded = 0;
  private failed = 0;
  private tokens = 0;

  constructor(private readonly options: EmbeddingBatchLaneOptions) {
    for (const { hash, text } of options.texts) if (!this.texts.has(hash)) this.texts.set(hash, text);
    this.maxAttempts = options.maxAttempts ?? 3;
    this.log = options.logger.child({ collection: options.collection, model: options.modelId });
  }

  async execute(): Promise<BatchLaneReport> {
    this.throwIfAborted();
    await this.resume();
    await this.planFresh();
    for (;;) {
      for (const batch of this.batches.filter((candidate) => !candidate.finished)) {
        this.throwIfAborted();
        await this.step(batch);
      }
      this.options.onProgress?.(this.progress());
      if (this.batches.every((batch) => batch.finished) || this.options.wait === false) break;
      await this.pause();
    }
    return this.report();
  }

  /** Takes over this collection's unfinished batches (of the same model and dimensions). */
  private async resume(): Promise<void> {
    const rows = await this.options.db.query<{
      id: string;
      attempt: number;
      status: string;
      input_file_id: string | null;
      provider_batch_id: string | null;
      hashes: string[];
    }>(
      `SELECT b.id::text AS id, b.attempt, b.status, b.input_file_id, b.provider_batch_id,
              coalesce(array_agg(t.content_hash) FILTER (WHERE t.content_hash IS NOT NULL), '{}') AS hashes
         FROM vectorsync.embedding_batches b
         LEFT JOIN vectorsync.embedding_batch_texts t ON t.batch_id = b.id
        WHERE b.collection = $1 AND b.model = $2 AND b.dimensions = $3 AND b.finished_at IS NULL
        GROUP BY b.id ORDER BY b.id`,
      [this.options.collection, this.options.modelId, this.options.dimensions],
    );
    for (const row of rows.rows) {
      this.track({
        id: row.id,
        attempt: row.attempt,
        hashes: row.hashes,
        inputFileId: row.input_file_id,
        providerBatchId: row.provider_batch_id,
        status: row.status,
      });
    }
    if (rows.rows.length > 0)
      this.log.info({ batches: rows.rows.map((row) => row.id) }, 'resuming unfinished embedding batches');
  }

  /** Records batches for the texts neither cached nor in an unfinished batch. */
  private async planFresh(): Promise<void> {
    const candidates = [...this.texts.keys()].filter((hash) => !this.inFlight.has(hash));
    const missing: string[] = [];
    for (let start = 0; start < candidates.length; start += CACHE_PAGE) {
      const page = candidates.slice(start, start + CACHE_PAGE);
      const cached = await this.options.cache.getMany(page);
      for (const hash of page) if (!cached.has(hash)) missing.push(hash);
    }
    await this.recordBatches(missing, 1);
  }

  /** Splits `hashes` into files within OpenAI's limits and records one batch per file. */
  private async recordBatches(hashes: readonly string[], attempt: number): Promise<void> {
    const maxRequests = Math.min(
      this.options.maxRequestsPerBatch ?? MAX_REQUESTS_PER_FILE,
      MAX_REQUESTS_PER_FILE,
    );
    const maxBytes = Math.min(this.options.maxBatchFileBytes ?? MAX_FILE_BYTES, MAX_FILE_BYTES);
    let group: string[] = [];
    let bytes = 0;
    const flush = async () => {
      if (group.length === 0) return;
      const hashesOfFile = group;
      group = [];
      bytes = 0;
      // One statement: the batch and its texts are recorded together or not at all.
      const result = await this.options.db.query<{ id: string }>(
        `WITH b AS (
           INSERT INTO vectorsync.embedding_batches (collection, model, dimensions, status, attempt, request_count)
           VALUES ($1, $2, $3, 'preparing', $4, cardinality($5::text[])) RETURNING id
         ), t AS (
           INSERT INTO vectorsync.embedding_batch_texts (batch_id, content_hash)
           SELECT b.id, h FROM b, unnest($5::text[]) AS h
         )
         SELECT id::text AS id FROM b`,
        [this.options.collection, this.options.modelId, this.options.dimensions, attempt, hashesOfFile],
      );
      this.track({
        id: result.rows[0]!.id,
        attempt,
        hashes: hashesOfFile,
        inputFileId: null,
        providerBatchId: null,
        status: 'preparing',
      });
    };
    for (const hash of hashes) {
      const lineBytes = Buffer.byteLength(this.requestLine(hash, this.texts.get(hash)!));
      if (group.length > 0 && (group.length >= maxRequests || bytes + lineBytes > maxBytes)) await flush();
      group.push(hash);
      bytes += lineBytes;
    }
    await flush();
  }

  private track(batch: Omit<LaneBatch, 'completed' | 'failed' | 'transientPasses' | 'finished'>): void {
    this.batches.push({ ...batch, completed: 0, failed: 0, transientPasses: 0, finished: false });
    for (const hash of batch.hashes) this.inFlight.set(hash, batch.id);
  }

  /** Moves one batch as far as it goes now: upload, create, poll, harvest. */
  private async step(batch: LaneBatch): Promise<void> {
    try {
      if (batch.inputFileId === null) await this.upload(batch);
      if (batch.finished) return;
      if (batch.providerBatchId === null) await this.create(batch);
      const remote = await this.options.api.retrieveBatch(batch.providerBatchId!);
      batch.status = remote.status;
      batch.completed = remote.request_counts.completed;
      batch.failed = remote.request_counts.failed;
      await this.options.db.query(
        `UPDATE vectorsync.embedding_batches
            SET status = $2, output_file_id = $3, error_file_id = $4, completed_count = $5,
                failed_count = $6, last_error = NULL, updated_at = now()
          WHERE id = $1`,
        [batch.id, remote.status, remote.output_file_id, remote.error_file_id, batch.completed, batch.failed],
      );
      if (isBatchEnded(remote.status)) await this.harvest(batch, remote);
      batch.transientPasses = 0;
    } catch (error) {
      const problem = coerceError(error);
      // Best effort, for status readers: the error itself is logged or raised below either way.
      await this.options.db
        .query('UPDATE vectorsync.embedding_batches SET last_error = $2, updated_at = now() WHERE id = $1', [
          batch.id,
          problem.message,
        ])
        .catch(() => {});
      // The lane polls anyway: a provider that is briefly away is asked again next pass.
      if (isVectorsyncError(error) && error.transient && ++batch.transientPasses < MAX_TRANSIENT_PASSES) {
        this.log.warn(
          { batch: batch.id, providerBatchId: batch.providerBatchId, problem: problem.message },
          'embedding batch step failed; trying again at the next poll',
        );
        return;
      }
      throw error;
    }
  }

  /** Writes the batch's file and records its id before any batch exists (an orphan file costs nothing). */
  private async upload(batch: LaneBatch): Promise<void> {
    const known = batch.hashes.filter((hash) => this.texts.has(hash));
    if (known.length < batch.hashes.length) {
      // Resumed before upload, by a run that was not given these texts: they go back to being
      // plain cache misses, for whichever run has them.
      const unknown = batch.hashes.filter((hash) => !this.texts.has(hash));
      await this.options.db.query(
        `DELETE FROM vectorsync.embedding_batch_texts WHERE batch_id = $1 AND content_hash = ANY($2::text[])`,
        [batch.id, unknown],
      );
      for (const hash of unknown) this.inFlight.delete(hash);
      batch.hashes = known;
      if (known.length === 0) {
        await this.options.db.query('DELETE FROM vectorsync.embedding_batches WHERE id = $1', [batch.id]);
        batch.finished = true;
        batch.status = 'dropped';
        return;
      }
      await this.options.db.query(
        'UPDATE vectorsync.embedding_batches SET request_count = $2 WHERE id = $1',
        [batch.id, known.length],
      );
    }
    const jsonl = batch.hashes.map((hash) => this.requestLine(hash, this.texts.get(hash)!)).join('');
    const file = await this.options.api.uploadBatchFile(
      jsonl,
      `vectorsync-${this.options.collection}-${batch.id}-attempt${batch.attempt}.jsonl`,
    );
    await this.options.db.query(
      `UPDATE vectorsync.embedding_batches SET input_file_id = $2, status = 'uploaded', updated_at = now() WHERE id = $1`,
      [batch.id, file.id],
    );
    batch.inputFileId = file.id;
    batch.status = 'uploaded';
    this.log.info(
      { batch: batch.id, file: file.id, bytes: file.bytes, requests: batch.hashes.length },
      'uploaded embedding batch file',
    );
  }

  private async create(batch: LaneBatch): Promise<void> {
    const remote = await this.options.api.createBatch(batch.inputFileId!, {
      vectorsync_collection: this.options.collection,
      vectorsync_model: this.options.modelId,
      vectorsync_batch: batch.id,
      vectorsync_attempt: String(batch.attempt),
    });
    try {
      await this.options.db.query(
        `UPDATE vectorsync.embedding_batches SET provider_batch_id = $2, status = $3, updated_at = now() WHERE id = $1`,
        [batch.id, remote.id, remote.status],
      );
    } catch (error) {
      // A running batch nobody will collect is paid for twice once the file is submitted again.
      await this.options.api.cancelBatch(remote.id).catch(() => {});
      throw error;
    }
    batch.providerBatchId = remote.id;
    batch.status = remote.status;
    this.submitted += batch.hashes.length;
    this.log.info(
      { batch: batch.id, providerBatchId: remote.id, requests: batch.hashes.length, attempt: batch.attempt },
      'submitted embedding batch',
    );
  }

  /** Caches the batch's vectors and moves its failed texts to the next attempt (or gives them up). */
  private async harvest(batch: LaneBatch, remote: OpenAiBatch): Promise<void> {
    const results: BatchResults = { vectors: new Map(), failures: new Map(), tokens: 0, billedRequests: 0 };
    // An expired or cancelled batch may still have an output file with the requests it finished.
    if (remote.output_file_id)
      this.readResults(await this.options.api.fileContent(remote.output_file_id), results);
    if (remote.error_file_id)
      this.readResults(await this.options.api.fileContent(remote.error_file_id), results);

    const mine = new Set(batch.hashes);
    const vectors = [...results.vectors].filter(([hash]) => mine.has(hash));
    for (let start = 0; start < vectors.length; start += CACHE_PAGE) {
      const page = vectors.slice(start, start + CACHE_PAGE).map(([hash, vector]) => ({ hash, vector }));
      await this.options.cache.putMany(page);
    }
    const batchProblem = remote.errors.data.map(
      (error) => `${error.code ?? 'error'}: ${error.message ?? ''}`,
    )[0];
    const failures = new Map<string, string>();
    for (const hash of batch.hashes) {
      if (results.vectors.has(hash)) continue;
      failures.set(
        hash,
        results.failures.get(hash) ?? batchProblem ?? `no result in a ${remote.status} batch`,
      );
    }
    // A text another unfinished batch already holds (a retry recorded before a crash) is not retried twice.
    const retry = [...failures.keys()].filter(
      (hash) => this.texts.has(hash) && (this.inFlight.get(hash) ?? batch.id) === batch.id,
    );
    const again = batch.attempt < this.maxAttempts ? retry : [];
    const givenUp = [...failures.keys()].filter(
      (hash) => !again.includes(hash) && (this.inFlight.get(hash) ?? batch.id) === batch.id,
    );

    for (const hash of batch.hashes) if (this.inFlight.get(hash) === batch.id) this.inFlight.delete(hash);
    // The next attempt is recorded before this batch counts as finished: a crash in between
    // leaves both unfinished, and the check above keeps the texts from going out twice.
    await this.recordBatches(again, batch.attempt + 1);
    const lastError = failures.size > 0 ? [...new Set(failures.values())].slice(0, 3).join('; ') : null;
    await this.options.db.query(
      `UPDATE vectorsync.embedding_batches
          SET status = $2, completed_count = $3, failed_count = $4, tokens = $5, last_error = $6,
              finished_at = now(), updated_at = now()
        WHERE id = $1`,
      [batch.id, remote.status, vectors.length, failures.size, results.tokens, lastError],
    );
    batch.finished = true;
    batch.completed = vectors.length;
    batch.failed = failures.size;
    this.embedded += vectors.length;
    this.tokens += results.tokens;
    this.failed += givenUp.length;
    if (results.billedRequests > 0) this.options.onUsage?.(results.tokens, results.billedRequests);
    this.log.info(
      {
        batch: batch.id,
        providerBatchId: batch.providerBatchId,
        status: remote.status,
        embedded: vectors.length,
        failed: failures.size,
        retried: again.length,
        tokens: results.tokens,
      },
      'embedding batch ended',
    );
    if (givenUp.length > 0) {
      this.log.warn(
        {
          batch: batch.id,
          texts: givenUp.length,
          attempts: batch.attempt,
          problem: lastError,
          sample: givenUp.slice(0, 5),
        },
        'texts failed every embedding batch attempt; the synchronous API embeds them when the fill reaches them',
      );
    }
  }

  /** Reads output or error file lines into `results`; a vector wins over a failure of the same text. */
  private readResults(content: string, results: BatchResults): void {
    for (const line of content.split('\n')) {
      if (line.trim() === '') continue;
      let parsed: {
        custom_id?: unknown;
        response?: { status_code?: unknown; body?: unknown } | null;
        error?: { code?: unknown; message?: unknown } | null;
      };
      try {
        parsed = JSON.parse(line);
      } catch {
        // Its text then has no result, which counts as a failure of that text.
        this.log.warn({ line: line.slice(0, 200) }, 'unreadable line in an embedding batch result file');
        continue;
      }
      const hash = parsed.custom_id;
      if (typeof hash !== 'string') continue;
      const body = parsed.response?.body as
        | {
            data?: Array<{ embedding?: unknown }>;
            usage?: { prompt_tokens?: unknown; total_tokens?: unknown };
            error?: { message?: unknown };
          }
        | undefined;
      let problem: string | undefined;
      if (parsed.error)
        problem = `${String(parsed.error.code ?? 'error')}: ${String(parsed.error.message ?? '')}`;
      else if (!parsed.response) problem = 'no response';
      else if (parsed.response.status_code !== 200)
        problem = `HTTP ${String(parsed.response.status_code)}: ${String(body?.error?.message ?? '')}`;
      if (problem !== undefined) {
        if (!results.vectors.has(hash)) results.failures.set(hash, problem);
        continue;
      }
      const vector = this.vectorOf(body?.data?.[0]?.embedding);
      if (typeof vector === 'string') {
        if (!results.vectors.has(hash)) results.failures.set(hash, vector);
        continue;
      }
      results.vectors.set(hash, vector);
      results.failures.delete(hash);
      results.billedRequests++;
      const tokens = body?.usage?.prompt_tokens ?? body?.usage?.total_tokens;
      if (typeof tokens === 'number' && Number.isFinite(tokens) && tokens >= 0) results.tokens += tokens;
    }
  }

  /** The vector, or what is wrong with it. A wrong length is the model's, not the text's: it fails loudly. */
  private vectorOf(embedding: unknown): Float32Array | string {
    if (!Array.isArray(embedding)) return 'the response has no embedding';
    if (embedding.length !== this.options.dimensions) {
      throw new VectorsyncError(
        ErrorCode.DimensionMismatch,
        `model ${this.options.config.model} returned ${embedding.length}-dimensional vectors in a batch but the collection is configured for ${this.options.dimensions}`,
        {
          details: {
            model: this.options.config.model,
            expected: this.options.dimensions,
            received: embedding.length,
          },
        },
      );
    }
    if (!embedding.every((value) => typeof value === 'number' && Number.isFinite(value)))
      return 'the embedding has values that are not finite numbers';
    return Float32Array.from(embedding as number[]);
  }

  /** One line of a batch input file: the same request the synchronous path sends, for one text. */
  private requestLine(hash: string, text: string): string {
    const { config } = this.options;
    const body = {
      model: config.model,
      input: text,
      encoding_format: 'float',
      ...(config.requestDimensions ? { dimensions: this.options.dimensions } : {}),
    };
    return `${JSON.stringify({ custom_id: hash, method: 'POST', url: '/v1/embeddings', body })}\n`;
  }

  private pending(): number {
    return this.batches.reduce((sum, batch) => sum + (batch.finished ? 0 : batch.hashes.length), 0);
  }

  private progress(): BatchLaneProgress {
    return {
      batches: this.batches.filter((batch) => batch.status !== 'dropped').length,
      submitted: this.submitted,
      completed: this.embedded,
      failed: this.failed,
      pending: this.pending(),
    };
  }

  private report(): BatchLaneReport {
    return {
      batches: this.batches
        .filter((batch) => batch.status !== 'dropped')
        .map((batch) => ({
          id: batch.id,
          providerBatchId: batch.providerBatchId,
          status: batch.status,
          attempt: batch.attempt,
          requests: batch.hashes.length,
          completed: batch.completed,
          failed: batch.failed,
        })),
      submitted: this.submitted,
      embedded: this.embedded,
      failed: this.failed,
      tokens: this.tokens,
      pending: this.pending(),
    };
  }

  private async pause(): Promise<void> {
    this.throwIfAborted();
    const ms = this.options.pollIntervalMs ?? 30_000;
    const { signal, sleep } = this.options;
    try {
      if (!sleep) {
        await delay(ms, undefined, { signal });
        return;
      }
      if (!signal) {
        await sleep(ms);
        return;
      }
      let onAbort: () => void = () => {};
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        await Promise.race([sleep(ms), aborted]);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    } catch (error) {
      if (signal?.aborted) this.throwIfAborted();
      throw error;
    }
  }

  private throwIfAborted(): void {
    if (!this.options.signal?.aborted) return;
    const unfinished = this.batches.filter((batch) => !batch.finished);
    throw new VectorsyncError(
      ErrorCode.Aborted,
      `embedding batch lane aborted; ${unfinished.length} batch(es) stay recorded and a later run resumes them`,
      { details: { batches: unfinished.map((batch) => batch.id), pending: this.pending() } },
    );
  }
}
