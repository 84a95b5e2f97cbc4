import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { embedderSchema } from '../src/config/config-schema.js';
import type { SqlExecutor } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import {
  type EmbeddingBatchLaneOptions,
  type OpenAiEmbedderConfig,
  runEmbeddingBatchLane,
} from '../src/embedders/embedding-batch-lane.js';
import { OpenAiBatchApi } from '../src/embedders/openai-batch-api.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import type { LogFields, Logger } from '../src/logger.js';
import { contentHash } from '../src/pipeline/content-hash.js';
import { PostgresEmbeddingCache } from '../src/pipeline/embedding-cache.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import { FakeOpenAiBatches } from './helpers/fake-openai-batches.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

const DIMENSIONS = 8;
const MODEL_ID = 'openai:text-embedding-3-small';
const API_KEY = 'sk-test-batch-lane-secret';

/** Every line logged, to check what the lane says about texts it gives up. */
function recordingLogger(): Logger & { lines: Array<{ level: string; fields: LogFields; message: string }> } {
  const lines: Array<{ level: string; fields: LogFields; message: string }> = [];
  const make = (scope: LogFields): Logger => ({
    debug: (fields, message) => lines.push({ level: 'debug', fields: { ...scope, ...fields }, message }),
    info: (fields, message) => lines.push({ level: 'info', fields: { ...scope, ...fields }, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields: { ...scope, ...fields }, message }),
    error: (fields, message) => lines.push({ level: 'error', fields: { ...scope, ...fields }, message }),
    child: (fields) => make({ ...scope, ...fields }),
  });
  return Object.assign(make({}), { lines });
}

describe('embedding batch lane (OpenAI Batch API into the Postgres embedding cache)', () => {
  let testDb: TestDatabase;
  let server: FakeEmbeddingServer;
  let fake: FakeOpenAiBatches;
  let baseUrl: string;
  let config: OpenAiEmbedderConfig;
  let collectionCounter = 0;
  let collection: string;

  before(async () => {
    testDb = await createTestDatabase('embedding_batch_lane');
    await migrate(testDb.db);
  });
  after(async () => {
    await testDb.drop();
  });

  beforeEach(async () => {
    // One server per test: the Files and Batches routes of a fake are its own.
    server = new FakeEmbeddingServer({ dimensions: DIMENSIONS });
    fake = new FakeOpenAiBatches(server, { apiKey: API_KEY });
    baseUrl = await server.start();
    const parsed = embedderSchema.parse({
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: DIMENSIONS,
      baseUrl,
      requestDimensions: true,
    });
    assert.equal(parsed.provider, 'openai');
    config = parsed as OpenAiEmbedderConfig;
    collection = `articles_${++collectionCounter}`;
  });
  afterEach(async () => {
    await server.stop();
  });

  const texts = (label: string, count: number) =>
    Array.from({ length: count }, (_, index) => {
      const text = `${label} text number ${index} about linen shirts`;
      return { hash: contentHash(text, MODEL_ID, DIMENSIONS), text };
    });

  /** A cache without the lane's memory front: what the fill would read later. */
  const freshCache = () => new PostgresEmbeddingCache(testDb.db, MODEL_ID, DIMENSIONS);

  const lane = (overrides: Partial<EmbeddingBatchLaneOptions> & Pick<EmbeddingBatchLaneOptions, 'texts'>) =>
    runEmbeddingBatchLane({
      db: testDb.db,
      collection,
      config,
      modelId: MODEL_ID,
      dimensions: DIMENSIONS,
      cache: freshCache(),
      api: new OpenAiBatchApi({ baseUrl, apiKey: API_KEY, timeoutMs: 5000 }),
      logger: recordingLogger(),
      pollIntervalMs: 1,
      // The fake moves a batch one status per poll, so polling needs no real waiting.
      sleep: async () => {},
      ...overrides,
    });

  const batchRows = async () =>
    (
      await testDb.db.query<{
        id: string;
        provider_batch_id: string | null;
        input_file_id: string | null;
        status: string;
        attempt: number;
        request_count: number;
        completed_count: number;
        failed_count: number;
        tokens: string;
        last_error: string | null;
        finished: boolean;
      }>(
        `SELECT id::text AS id, provider_batch_id, input_file_id, status, attempt, request_count,
                completed_count, failed_count, tokens::text AS tokens, last_error, finished_at IS NOT NULL AS finished
           FROM vectorsync.embedding_batches WHERE collection = $1 ORDER BY id`,
        [collection],
      )
    ).rows;

  it('uploads, creates, polls and downloads, and caches exactly the vectors the provider made', async () => {
    const input = texts('first', 5);
    const usage: Array<[number, number]> = [];
    const progress: number[] = [];
    const report = await lane({
      texts: input,
      onUsage: (tokens, requests) => usage.push([tokens, requests]),
      onProgress: (p) => progress.push(p.pending),
    });

    const expectedTokens = server.tokensOf(input.map((entry) => entry.text));
    assert.equal(report.submitted, 5);
    assert.equal(report.embedded, 5);
    assert.equal(report.failed, 0);
    assert.equal(report.pending, 0);
    assert.equal(report.tokens, expectedTokens);
    assert.deepEqual(usage, [[expectedTokens, 5]]);
    assert.equal(progress.at(-1), 0);
    assert.ok(progress[0]! > 0, 'progress reports the pending texts while the batch runs');
    assert.equal(report.batches.length, 1);
    assert.equal(report.batches[0]!.status, 'completed');
    assert.equal(fake.requests.upload, 1);
    assert.equal(fake.requests.create, 1);
    assert.equal(fake.requests.content, 1, 'only the output file: there is no error file');
    assert.ok(fake.authorizations.every((header) => header === `Bearer ${API_KEY}`));

    const lines = fake.submittedLines();
    assert.deepEqual(
      lines.map((line) => line.custom_id),
      input.map((entry) => entry.hash),
    );
    for (const [index, line] of lines.entries()) {
      assert.equal(line.method, 'POST');
      assert.equal(line.url, '/v1/embeddings');
      assert.deepEqual(line.body, {
        model: 'text-embedding-3-small',
        input: input[index]!.text,
        encoding_format: 'float',
        dimensions: DIMENSIONS,
      });
    }
    const batch = fake.batches.get(report.batches[0]!.providerBatchId!)!;
    assert.equal(batch.metadata.vectorsync_collection, collection);

    const cached = await freshCache().getMany(input.map((entry) => entry.hash));
    assert.equal(cached.size, 5);
    for (const entry of input) assert.deepEqual(cached.get(entry.hash), server.vectorFor(entry.text));

    const [row] = await batchRows();
    assert.equal(row!.status, 'completed');
    assert.equal(row!.finished, true);
    assert.equal(row!.completed_count, 5);
    assert.equal(Number(row!.tokens), expectedTokens);
  });

  it('submits only the texts missing from the cache, and nothing when all are cached', async () => {
    const input = texts('cached', 4);
    await freshCache().putMany(
      input
        .slice(0, 2)
        .map((entry) => ({ hash: entry.hash, vector: new Float32Array(DIMENSIONS).fill(0.5) })),
    );
    const report = await lane({ texts: input });
    assert.deepEqual(
      fake.submittedLines().map((line) => line.custom_id),
      input.slice(2).map((entry) => entry.hash),
    );
    assert.equal(report.embedded, 2);
    // The cached vectors stay what they were.
    assert.deepEqual((await freshCache().getMany([input[0]!.hash])).get(input[0]!.hash)?.[0], 0.5);

    const again = await lane({ texts: input });
    assert.equal(fake.requests.upload, 1, 'a second run finds every text cached and uploads nothing');
    assert.deepEqual(again.batches, []);
    assert.equal(again.submitted, 0);
  });

  it('splits the texts into files of at most maxRequestsPerBatch requests and maxBatchFileBytes', async () => {
    const input = texts('split', 5);
    const report = await lane({ texts: input, maxRequestsPerBatch: 2 });
    assert.deepEqual(
      report.batches.map((batch) => batch.requests),
      [2, 2, 1],
    );
    assert.equal(fake.requests.upload, 3);
    assert.equal(report.embedded, 5);

    const bigger = texts('bytes', 3);
    const lineBytes = Buffer.byteLength(
      `${JSON.stringify({ custom_id: bigger[0]!.hash, method: 'POST', url: '/v1/embeddings', body: { model: config.model, input: bigger[0]!.text, encoding_format: 'float', dimensions: DIMENSIONS } })}\n`,
    );
    const byBytes = await lane({ texts: bigger, maxBatchFileBytes: lineBytes * 2 + 1 });
    assert.deepEqual(
      byBytes.batches.map((batch) => batch.requests),
      [2, 1],
    );
  });

  it('resubmits the failed requests of a batch in a second batch, which succeeds', async () => {
    const input = texts('partial', 6);
    // Each documented way to fail a request: a non-200 answer, a non-HTTP error, no line at all.
    fake.failCustomIds([input[1]!.hash], { kind: 'status', times: 1 });
    fake.failCustomIds([input[2]!.hash], { kind: 'error', times: 1 });
    fake.failCustomIds([input[3]!.hash], { kind: 'missing', times: 1 });
    const report = await lane({ texts: input });

    assert.equal(report.batches.length, 2);
    assert.deepEqual(
      report.batches.map((batch) => [batch.attempt, batch.requests, batch.completed, batch.failed]),
      [
        [1, 6, 3, 3],
        [2, 3, 3, 0],
      ],
    );
    const retried = [...fake.batches.values()][1]!.lines.map((line) => line.custom_id);
    assert.deepEqual(retried, [input[1]!.hash, input[2]!.hash, input[3]!.hash]);
    assert.equal(report.submitted, 9);
    assert.equal(report.embedded, 6);
    assert.equal(report.failed, 0);
    const cached = await freshCache().getMany(input.map((entry) => entry.hash));
    assert.equal(cached.size, 6);

    const rows = await batchRows();
    assert.deepEqual(
      rows.map((row) => [row.attempt, row.completed_count, row.failed_count, row.finished]),
      [
        [1, 3, 3, true],
        [2, 3, 0, true],
      ],
    );
  });

  it('reports a text that fails every attempt as failed and leaves it to the synchronous API', async () => {
    const input = texts('hopeless', 3);
    fake.failCustomIds([input[0]!.hash], { kind: 'status' });
    const logger = recordingLogger();
    const report = await lane({ texts: input, maxAttempts: 2, logger });

    assert.equal(report.failed, 1);
    assert.equal(report.embedded, 2);
    assert.equal(report.batches.length, 2, 'one retry, then no more (maxAttempts 2)');
    const cached = await freshCache().getMany(input.map((entry) => entry.hash));
    assert.equal(cached.has(input[0]!.hash), false);
    assert.equal(cached.size, 2);
    const warning = logger.lines.find(
      (line) => line.level === 'warn' && /synchronous API/.test(line.message),
    );
    assert.ok(warning, 'the log says where the failed texts go');
    assert.equal(warning.fields.texts, 1);
    assert.equal(warning.fields.collection, collection);
  });

  it('uses what an expired batch finished and resubmits the rest', async () => {
    const input = texts('expiring', 4);
    fake.expireNextBatch(1);
    const report = await lane({ texts: input });
    assert.equal(report.batches[0]!.status, 'expired');
    assert.equal(report.batches[0]!.completed, 1);
    assert.equal(report.batches[1]!.requests, 3);
    assert.equal(report.embedded, 4);
    assert.equal(report.failed, 0);
  });

  it('retries every text of a batch that failed validation', async () => {
    const input = texts('invalid', 2);
    fake.failNextBatchValidation('fake validation failure');
    const report = await lane({ texts: input });
    assert.deepEqual(
      report.batches.map((batch) => batch.status),
      ['failed', 'completed'],
    );
    assert.equal(report.embedded, 2);
    const [first] = await batchRows();
    assert.equal(first!.status, 'failed');
  });

  it('resumes after a restart: polls the recorded provider batch instead of uploading again', async () => {
    const input = texts('restart', 4);
    const first = await lane({ texts: input, wait: false });
    assert.equal(first.pending, 4);
    assert.equal(first.embedded, 0);
    assert.equal(first.batches[0]!.status, 'in_progress');
    const providerBatchId = first.batches[0]!.providerBatchId!;
    assert.ok(providerBatchId);
    assert.equal((await freshCache().getMany([input[0]!.hash])).size, 0);

    // A new run ("after a restart") with the same texts.
    const second = await lane({ texts: input });
    assert.equal(fake.requests.upload, 1);
    assert.equal(fake.requests.create, 1);
    assert.equal(second.submitted, 0, 'nothing new was sent');
    assert.equal(second.batches.length, 1);
    assert.equal(second.batches[0]!.providerBatchId, providerBatchId);
    assert.equal(second.embedded, 4);
    assert.equal(second.pending, 0);
    assert.equal((await freshCache().getMany(input.map((entry) => entry.hash))).size, 4);
    const [row] = await batchRows();
    assert.equal(row!.finished, true);
  });

  it('resumes a batch whose file was uploaded but whose provider batch was never created', async () => {
    const input = texts('between', 3);
    fake.failNext('create', 503, 'The server is overloaded');
    const first = await lane({ texts: input, wait: false });
    assert.equal(first.pending, 3);
    const [recorded] = await batchRows();
    assert.ok(recorded!.input_file_id, 'the uploaded file is recorded first');
    assert.equal(recorded!.provider_batch_id, null);
    assert.equal(recorded!.status, 'uploaded');

    const second = await lane({ texts: input });
    assert.equal(fake.requests.upload, 1, 'the recorded file is used, not uploaded again');
    assert.equal(fake.requests.create, 2);
    assert.equal(fake.batches.size, 1);
    assert.equal(second.embedded, 3);
    assert.equal([...fake.batches.values()][0]!.input_file_id, recorded!.input_file_id);
  });

  it('after a crash between recording a retry and finishing its batch, sends the retried texts once', async () => {
    const input = texts('crash', 3);
    fake.failCustomIds([input[0]!.hash], { times: 1 });
    let crashed = false;
    // The connection is lost exactly when the first batch would be marked finished.
    const crashingDb: SqlExecutor = {
      query: (text, values) => {
        if (!crashed && text.includes('finished_at = now()')) {
          crashed = true;
          return Promise.reject(new Error('connection lost'));
        }
        return testDb.db.query(text, values);
      },
    };
    await assert.rejects(lane({ texts: input, db: crashingDb }), /connection lost/);
    const rows = await batchRows();
    assert.deepEqual(
      rows.map((row) => [row.attempt, row.status, row.finished]),
      [
        [1, 'completed', false],
        [2, 'preparing', false],
      ],
    );

    const resumed = await lane({ texts: input });
    assert.equal(fake.batches.size, 2, 'the recorded retry is the only second batch');
    assert.deepEqual(
      [...fake.batches.values()][1]!.lines.map((line) => line.custom_id),
      [input[0]!.hash],
    );
    assert.equal(resumed.failed, 0);
    assert.equal((await freshCache().getMany(input.map((entry) => entry.hash))).size, 3);
    assert.ok((await batchRows()).every((row) => row.finished));
  });

  it('stops between polls when aborted and leaves the batch for the next run', async () => {
    const input = texts('aborted', 2);
    const controller = new AbortController();
    await assert.rejects(
      lane({
        texts: input,
        signal: controller.signal,
        sleep: async () => controller.abort(),
      }),
      (error: unknown) => isVectorsyncError(error, ErrorCode.Aborted),
    );
    const [row] = await batchRows();
    assert.equal(row!.finished, false);
    assert.ok(row!.provider_batch_id);

    const resumed = await lane({ texts: input });
    assert.equal(resumed.batches[0]!.providerBatchId, row!.provider_batch_id);
    assert.equal(resumed.embedded, 2);
    assert.equal(fake.requests.upload, 1);
  });

  it('fails loudly when the provider returns vectors of other dimensions', async () => {
    const input = texts('dimensions', 1).map((entry) => ({
      ...entry,
      hash: contentHash(entry.text, MODEL_ID, 4),
    }));
    await assert.rejects(
      lane({ texts: input, dimensions: 4, cache: new PostgresEmbeddingCache(testDb.db, MODEL_ID, 4) }),
      (error: unknown) =>
        isVectorsyncError(error, ErrorCode.DimensionMismatch) && /8-dimensional/.test(error.message),
    );
  });

  it('turns a 400 from the API into a clear EMBEDDER_FAILED that never shows the key', async () => {
    const input = texts('rejected', 2);
    fake.failNext('upload', 400, `Invalid file format for Batch API (key ${API_KEY})`);
    await assert.rejects(lane({ texts: input }), (error: unknown) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderFailed));
      assert.equal(error.transient, false);
      assert.match(error.message, /HTTP 400: Invalid file format for Batch API/);
      assert.match(error.message, /\/files/);
      assert.doesNotMatch(error.message, new RegExp(API_KEY));
      assert.equal(error.details.status, 400);
      return true;
    });
    const [row] = await batchRows();
    assert.equal(row!.status, 'preparing');
    assert.match(row!.last_error ?? '', /HTTP 400/);
  });

  it('gets OpenAI-like answers from the fake: file validation, 401 and transient 5xx', async () => {
    const api = new OpenAiBatchApi({ baseUrl: `${baseUrl}///`, apiKey: API_KEY, timeoutMs: 5000 });
    const line = (id: string) =>
      `${JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/embeddings', body: { model: 'm', input: 'x' } })}\n`;
    await assert.rejects(api.uploadBatchFile(line('a') + line('a'), 'dup.jsonl'), (error: unknown) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderFailed));
      assert.match(error.message, /HTTP 400: .*custom_id a is not unique/);
      return true;
    });
    const uploaded = await api.uploadBatchFile(line('a') + line('b'), 'ok.jsonl');
    assert.equal(uploaded.bytes, Buffer.byteLength(line('a') + line('b')));
    assert.equal(fake.files.get(uploaded.id)?.filename, 'ok.jsonl');

    const anonymous = new OpenAiBatchApi({ baseUrl, apiKey: undefined, timeoutMs: 5000 });
    await assert.rejects(anonymous.retrieveBatch('batch_x'), (error: unknown) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderFailed));
      assert.equal(error.details.status, 401);
      return true;
    });
    assert.equal(fake.authorizations.at(-1), undefined, 'no Authorization header without a key');

    fake.failNext('retrieve', 503, 'overloaded');
    await assert.rejects(api.retrieveBatch('batch_x'), (error: unknown) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderUnavailable));
      assert.equal(error.transient, true);
      return true;
    });

    const created = await api.createBatch(uploaded.id, { purpose: 'test' });
    assert.equal(created.status, 'validating');
    assert.deepEqual(created.errors, { data: [] });
    const cancelled = await api.cancelBatch(created.id);
    assert.equal(cancelled.status, 'cancelling');
    assert.equal((await api.retrieveBatch(created.id)).status, 'cancelled');
  });
});
