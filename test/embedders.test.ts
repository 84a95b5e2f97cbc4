import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EmbedUsage } from '../src/embedders/embedder.js';
import { HashEmbedder } from '../src/embedders/hash-embedder.js';
import { OpenAiEmbedder } from '../src/embedders/openai-embedder.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { canonicalUuid, uuidV5 } from '../src/pipeline/canonical-key.js';
import { contentHash } from '../src/pipeline/content-hash.js';
import { embedDocuments } from '../src/pipeline/embed-documents.js';
import { MemoryEmbeddingCache } from '../src/pipeline/embedding-cache.js';
import { loadTokenizer } from '../src/pipeline/token-counter.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';

function norm(vector: Float32Array): number {
  return Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot / (norm(a) * norm(b));
}

describe('hash embedder', () => {
  const embedder = new HashEmbedder(128);

  it('is deterministic, L2-normalised and of the configured dimensions', async () => {
    const [a, b] = await embedder.embed(['Relaxed linen shirt', 'Relaxed linen shirt']);
    assert.equal(a!.length, 128);
    assert.deepEqual(a, b);
    assert.ok(Math.abs(norm(a!) - 1) < 1e-5);
  });

  it('puts texts that share words and spellings closer than unrelated texts', async () => {
    const [shirt, shirts, boots] = await embedder.embed([
      'blue linen shirt',
      'blue linen shirts',
      'leather ankle boots',
    ]);
    assert.ok(cosine(shirt!, shirts!) > 0.7);
    assert.ok(cosine(shirt!, shirts!) > cosine(shirt!, boots!) + 0.3);
  });

  it('folds case and accents and gives empty text a unit vector rather than zeros', async () => {
    const [accented, plain, empty] = await embedder.embed(['Crème Brûlée', 'creme brulee', '  ']);
    assert.deepEqual(accented, plain);
    assert.ok(Math.abs(norm(empty!) - 1) < 1e-5);
  });
});

describe('canonical ids', () => {
  it('produce RFC 4122 UUIDv5s matching the reference implementation', () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') == 886313e1-3b8a-5372-9b90-0c9aee199e5d
    assert.equal(
      uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
      '886313e1-3b8a-5372-9b90-0c9aee199e5d',
    );
  });

  it('are stable per canonical key and differ across tenants and collections', () => {
    const a = canonicalUuid({ collection: 'products', tenant: 'acme', id: '42' });
    assert.equal(a, canonicalUuid({ collection: 'products', tenant: 'acme', id: '42' }));
    assert.notEqual(a, canonicalUuid({ collection: 'products', tenant: 'globex', id: '42' }));
    assert.notEqual(a, canonicalUuid({ collection: 'orders', tenant: 'acme', id: '42' }));
    // Length-prefixing keeps ("a|b", "c") and ("a", "b|c") apart.
    assert.notEqual(
      canonicalUuid({ collection: 'p', tenant: 'a|b', id: 'c' }),
      canonicalUuid({ collection: 'p', tenant: 'a', id: 'b|c' }),
    );
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('OpenAI-compatible embedder against a server speaking the OpenAI wire format', () => {
  const server = new FakeEmbeddingServer({ dimensions: 8 });
  let baseUrl: string;
  const noSleep = async () => {};

  before(async () => {
    baseUrl = await server.start();
  });
  after(async () => {
    await server.stop();
  });

  it('batches inputs, sends the documented request body and keeps input order', async () => {
    server.reset();
    const embedder = new OpenAiEmbedder({
      model: 'text-embedding-3-small',
      dimensions: 8,
      baseUrl,
      apiKey: 'sk-test',
      batchSize: 2,
      requestDimensions: true,
    });
    const texts = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const vectors = await embedder.embed(texts);
    assert.equal(server.requests.length, 3, '5 inputs in batches of 2');
    assert.deepEqual(server.requests[0], {
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      encoding_format: 'float',
      dimensions: 8,
    });
    assert.equal(server.authorizations[0], 'Bearer sk-test');
    for (const [index, vector] of vectors.entries())
      assert.deepEqual(vector, server.vectorFor(texts[index]!));
  });

  it('retries 429 (honouring Retry-After) and 5xx, then succeeds', async () => {
    server.reset();
    server.failNext([429, 503, 500]);
    const sleeps: number[] = [];
    const embedder = new OpenAiEmbedder({
      model: 'm',
      dimensions: 8,
      baseUrl,
      maxRetries: 5,
      sleep: async (ms) => void sleeps.push(ms),
    });
    const [vector] = await embedder.embed(['hello']);
    assert.deepEqual(vector, server.vectorFor('hello'));
    assert.equal(server.requests.length, 4);
    assert.equal(sleeps[0], 1000, 'Retry-After: 1 on the 429');
    assert.ok(sleeps[2]! >= sleeps[1]! * 0.5, 'exponential backoff');
  });

  it('a provider that keeps answering 429 with short waits defers the work (EMBEDDER_RATE_LIMITED), it is not reported down', async () => {
    server.reset();
    server.throttleTo({ requestsPerWindow: 0, windowMs: 40 });
    const embedder = new OpenAiEmbedder({ model: 'm', dimensions: 8, baseUrl, maxRetries: 3 });
    await assert.rejects(embedder.embed(['x']), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderRateLimited), String(error));
      assert.equal(error.transient, true);
      assert.ok((error.details.retryAfterMs as number) > 0);
      return true;
    });
    assert.equal(server.throttledCount, 4, 'each attempt honoured the short wait inline, then gave up');
    server.throttleTo(undefined);
  });

  it('an account out of credit (429 insufficient_quota) is an outage, not a rate limit to wait out', async () => {
    server.reset();
    server.quotaExhausted = true;
    const embedder = new OpenAiEmbedder({
      model: 'm',
      dimensions: 8,
      baseUrl,
      maxRetries: 2,
      sleep: noSleep,
    });
    await assert.rejects(embedder.embed(['x']), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderUnavailable), String(error));
      assert.equal(error.details.retryAfterMs, undefined);
      assert.match(error.message, /quota/);
      return true;
    });
    assert.equal(embedder.limits().throttled, 0, 'not counted as throttling');
    server.quotaExhausted = false;
  });

  it('gives up after maxRetries with a transient EMBEDDER_UNAVAILABLE', async () => {
    server.reset();
    server.failNext([500, 500, 500]);
    const embedder = new OpenAiEmbedder({
      model: 'm',
      dimensions: 8,
      baseUrl,
      maxRetries: 2,
      sleep: noSleep,
    });
    await assert.rejects(embedder.embed(['x']), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderUnavailable));
      assert.equal(error.transient, true);
      assert.match(error.message, /HTTP 500/);
      return true;
    });
  });

  it('treats other 4xx as permanent, with the server’s message', async () => {
    server.reset();
    server.failNext([400]);
    const embedder = new OpenAiEmbedder({ model: 'm', dimensions: 8, baseUrl, sleep: noSleep });
    await assert.rejects(embedder.embed(['x']), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderFailed));
      assert.equal(error.transient, false);
      assert.match(error.message, /HTTP 400: fake failure 400/);
      return true;
    });
    assert.equal(server.requests.length, 1, 'no retry');
  });

  it('fails loudly when the model returns other dimensions than configured', async () => {
    server.reset();
    const embedder = new OpenAiEmbedder({ model: 'm', dimensions: 16, baseUrl, sleep: noSleep });
    await assert.rejects(embedder.embed(['x']), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.DimensionMismatch));
      assert.match(error.message, /returned 8-dimensional vectors but the collection is configured for 16/);
      return true;
    });
  });

  it('times out a hanging request and retries it', async () => {
    server.reset();
    server.hangNext(1);
    const embedder = new OpenAiEmbedder({
      model: 'm',
      dimensions: 8,
      baseUrl,
      // Only the hanging request waits this long; the retry must answer within it, which a
      // loaded machine did not always do in 200 ms (a third request: 3 !== 2).
      timeoutMs: 3000,
      sleep: noSleep,
    });
    const [vector] = await embedder.embed(['slow']);
    assert.deepEqual(vector, server.vectorFor('slow'));
    assert.equal(server.requests.length, 2);
  });

  it("reports each request's usage: the provider's token count, or gpt-tokenizer's when the answer has none", async () => {
    server.reset();
    const embedder = new OpenAiEmbedder({ model: 'm', dimensions: 8, baseUrl, batchSize: 2, sleep: noSleep });
    await embedder.init();
    const texts = ['the quick brown fox', 'jumps over', 'the lazy dog'];
    const usages: EmbedUsage[] = [];
    await embedder.embed(texts, { onUsage: (usage) => usages.push(usage) });
    assert.deepEqual(usages, [
      { requests: 1, tokens: server.tokensOf(texts.slice(0, 2)), estimated: false, exact: true },
      { requests: 1, tokens: server.tokensOf(texts.slice(2)), estimated: false, exact: true },
    ]);
    server.omitUsage = true;
    usages.length = 0;
    await embedder.embed(texts, { onUsage: (usage) => usages.push(usage) });
    const count = await loadTokenizer('cl100k_base', 'the test');
    assert.deepEqual(usages, [
      { requests: 1, tokens: count(texts[0]!) + count(texts[1]!), estimated: true, exact: true },
      { requests: 1, tokens: count(texts[2]!), estimated: true, exact: true },
    ]);
    assert.notEqual(
      usages[0]!.tokens,
      server.tokensOf(texts.slice(0, 2)),
      'counted by the tokenizer, not by words',
    );
  });

  it('never embeds the same content twice through the cache', async () => {
    server.reset();
    const embedder = new OpenAiEmbedder({ model: 'm', dimensions: 8, baseUrl });
    const cache = new MemoryEmbeddingCache();
    const doc = (id: string, text: string) => ({
      collection: 'c',
      tenant: 't',
      id,
      version: 1,
      text,
      keywords: '',
      terms: {},
      termCount: 0,
      payload: {},
      contentHash: contentHash(text, embedder.modelId, embedder.dimensions),
    });
    const first = await embedDocuments(
      [doc('1', 'same text'), doc('2', 'same text'), doc('3', 'other')],
      embedder,
      cache,
    );
    assert.deepEqual(first.stats, { requested: 3, cached: 0, embedded: 2 });
    assert.deepEqual(server.requests[0]?.input, ['same text', 'other']);
    const second = await embedDocuments([doc('1', 'same text'), doc('4', 'new')], embedder, cache);
    assert.deepEqual(second.stats, { requested: 2, cached: 1, embedded: 1 });
    assert.deepEqual(server.requests[1]?.input, ['new']);
  });
});
