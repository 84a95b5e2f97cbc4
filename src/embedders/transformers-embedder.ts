import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Embedder } from './embedder.js';

export interface TransformersEmbedderOptions {
  model: string;
  dimensions: number;
  pooling: 'mean' | 'cls';
  normalize: boolean;
  quantized: boolean;
  modelDir?: string;
  batchSize: number;
}

type FeatureExtractor = (
  texts: string[],
  options: { pooling: string; normalize: boolean },
) => Promise<{ data: Float32Array; dims: number[] }>;

const PACKAGE = '@huggingface/transformers';

/**
 * Sentence embeddings with any ONNX sentence-transformer through @huggingface/transformers,
 * strictly offline: the model must be in a local directory or the transformers cache;
 * vectorsync never downloads weights. The package is an optional dependency.
 */
export class TransformersEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxBatchSize: number;
  private extractor: Promise<FeatureExtractor> | undefined;

  constructor(private readonly options: TransformersEmbedderOptions) {
    this.modelId = `transformers:${options.model}:${options.pooling}${options.quantized ? ':q' : ''}`;
    this.dimensions = options.dimensions;
    this.maxBatchSize = options.batchSize;
  }

  async init(): Promise<void> {
    await this.load();
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const extract = await this.load();
    const output = await extract([...texts], {
      pooling: this.options.pooling,
      normalize: this.options.normalize,
    });
    const width = output.dims.at(-1) ?? 0;
    if (width !== this.dimensions) {
      throw new VectorsyncError(
        ErrorCode.DimensionMismatch,
        `model ${this.options.model} produces ${width}-dimensional vectors but the collection is configured for ${this.dimensions}`,
        { details: { model: this.options.model, expected: this.dimensions, received: width } },
      );
    }
    return texts.map((_, index) => output.data.slice(index * width, (index + 1) * width));
  }

  private load(): Promise<FeatureExtractor> {
    this.extractor ??= (async () => {
      let module: {
        pipeline: (task: string, model: string, options: object) => Promise<FeatureExtractor>;
        env: Record<string, unknown>;
      };
      try {
        module = (await import(PACKAGE as string)) as typeof module;
      } catch {
        throw new VectorsyncError(
          ErrorCode.OptionalDependencyMissing,
          `the "transformers" embedder needs the optional package ${PACKAGE}: npm install ${PACKAGE}`,
          { details: { package: PACKAGE } },
        );
      }
      module.env.allowRemoteModels = false;
      if (this.options.modelDir) {
        module.env.localModelPath = this.options.modelDir;
        module.env.cacheDir = this.options.modelDir;
      }
      try {
        return await module.pipeline('feature-extraction', this.options.model, {
          dtype: this.options.quantized ? 'q8' : 'fp32',
          local_files_only: true,
        });
      } catch (error) {
        throw new VectorsyncError(
          ErrorCode.EmbedderFailed,
          `could not load model "${this.options.model}" from local files${this.options.modelDir ? ` in ${this.options.modelDir}` : ''}: ${(error as Error).message}`,
          { cause: error, details: { model: this.options.model } },
        );
      }
    })();
    return this.extractor;
  }
}
