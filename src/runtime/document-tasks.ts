import { createChunker } from '../chunking/chunker.js';
import type { PayloadFieldType } from '../config/collection-definition.js';
import type { ChunkingConfig, EmbedderConfig } from '../config/config-schema.js';
import { parseTextTemplate } from '../config/text-template.js';
import type { Embedder } from '../embedders/embedder.js';
import { HashEmbedder } from '../embedders/hash-embedder.js';
import { WinkEmbedder } from '../embedders/wink-embedder.js';
import { type ErrorCode, errorCodeOf, isVectorsyncError, VectorsyncError } from '../errors.js';
import { Analyzer, type AnalyzerConfig } from '../pipeline/analyzer.js';
import { buildDocument, type DocumentShape } from '../pipeline/document-builder.js';
import { chunkEmbeddingInput, type IndexDocument } from '../pipeline/index-document.js';
import type { SourceRow } from '../pipeline/source-reader.js';

/**
 * The work a document worker thread does, as plain data (it crosses threads by structured
 * clone), and the code that does it there: the same buildDocument that small batches run on
 * the calling thread, from a plain-data copy of the collection definition.
 */

/** A collection definition reduced to what building its documents needs. */
export interface DocumentSpec {
  collection: string;
  table: { schema: string; name: string };
  tenantColumn: string;
  versionColumn: string;
  template: string;
  keywordFields: readonly string[];
  payloadFields: ReadonlyArray<{ name: string; type: PayloadFieldType; key?: string }>;
  analyzer: AnalyzerConfig;
  embedder: { modelId: string; dimensions: number };
  chunking?: ChunkingConfig;
}

/** The embedders that run in worker threads: pure CPU, no I/O after loading, no threads of their own. */
export type LocalEmbedderConfig = Extract<EmbedderConfig, { provider: 'hash' | 'wink' }>;

export function isLocalEmbedder(config: EmbedderConfig): config is LocalEmbedderConfig {
  return config.provider === 'hash' || config.provider === 'wink';
}

/**
 * Build the documents of some rows and, with a local embedder, embed their texts in the same
 * task (the calling thread still consults its embedding cache first, and keeps the vectors it
 * already has).
 */
export type DocumentTask =
  | {
      kind: 'build';
      spec: DocumentSpec;
      rows: SourceRow[];
      embedder: LocalEmbedderConfig | undefined;
      started: SharedArrayBuffer;
    }
  | { kind: 'ping'; started: SharedArrayBuffer };

/** A built document, with its vector when the task embedded it. */
export interface BuiltDocument {
  document: IndexDocument;
  vector?: Float32Array;
  /** A chunked document's chunk vectors, in chunk order, when the task embedded it. */
  chunkVectors?: Float32Array[];
}

/** An error as it crosses threads: what VectorsyncError needs to be rebuilt with its code. */
export interface SerialisedError {
  code: string;
  message: string;
  details: Record<string, unknown>;
  transient: boolean;
}

export type ItemResult<T> = { ok: true; value: T } | { ok: false; error: SerialisedError };

export function serialiseError(error: unknown): SerialisedError {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    code: errorCodeOf(err),
    message: err.message,
    details: isVectorsyncError(err) ? err.details : {},
    transient: isVectorsyncError(err) && err.transient,
  };
}

export function deserialiseError(error: SerialisedError): VectorsyncError {
  return new VectorsyncError(error.code as ErrorCode, error.message, {
    details: error.details,
    transient: error.transient,
  });
}

/** Called in a worker thread before each row is built (tests use it to hold or break a task). */
export interface DocumentWorkerHooks {
  beforeBuild?(row: SourceRow, data: unknown): void;
}

/** Builds and embeds; keeps the parsed templates, analyzers and embedders it has made. */
export class DocumentWork {
  private readonly shapes = new Map<string, { shape: DocumentShape; analyzer: Analyzer }>();
  private readonly embedders = new Map<string, Embedder>();

  constructor(
    private readonly hooks: { module: DocumentWorkerHooks; data: unknown } | undefined = undefined,
  ) {}

  /** Builds (and, given an embedder, embeds) each row; a row that fails fails alone. */
  async build(
    spec: DocumentSpec,
    rows: readonly SourceRow[],
    embedder: Embedder | undefined,
  ): Promise<Array<ItemResult<BuiltDocument>>> {
    const { shape, analyzer } = await this.shape(spec);
    const results: Array<ItemResult<BuiltDocument>> = [];
    for (const row of rows) {
      try {
        this.hooks?.module.beforeBuild?.(row, this.hooks.data);
        const document = buildDocument(shape, row, spec.embedder, analyzer);
        if (document.chunks) {
          const chunkVectors = embedder
            ? await embedder.embed(document.chunks.map(chunkEmbeddingInput))
            : undefined;
          results.push({ ok: true, value: chunkVectors ? { document, chunkVectors } : { document } });
          continue;
        }
        const vector = embedder ? (await embedder.embed([document.text]))[0] : undefined;
        results.push({ ok: true, value: vector ? { document, vector } : { document } });
      } catch (error) {
        results.push({ ok: false, error: serialiseError(error) });
      }
    }
    return results;
  }

  /** Loads the embedder's model or files: outside a task's budget. */
  async prepareEmbedder(config: LocalEmbedderConfig): Promise<Embedder> {
    const key = JSON.stringify(config);
    let embedder = this.embedders.get(key);
    if (!embedder) {
      embedder =
        config.provider === 'hash'
          ? new HashEmbedder(config.dimensions)
          : new WinkEmbedder({
              sifA: config.sifA,
              removeCommonComponent: config.removeCommonComponent,
              ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
            });
      this.embedders.set(key, embedder);
    }
    await embedder.init?.();
    return embedder;
  }

  private async shape(spec: DocumentSpec): Promise<{ shape: DocumentShape; analyzer: Analyzer }> {
    const key = JSON.stringify(spec);
    let entry = this.shapes.get(key);
    if (!entry) {
      const chunker = spec.chunking ? await createChunker(spec.chunking) : undefined;
      entry = {
        shape: {
          chunker,
          name: spec.collection,
          table: spec.table,
          tenantColumn: { name: spec.tenantColumn },
          versionColumn: { name: spec.versionColumn },
          template: parseTextTemplate(spec.template),
          keywordFields: spec.keywordFields,
          payloadFields: spec.payloadFields,
        },
        analyzer: new Analyzer(spec.analyzer),
      };
      this.shapes.set(key, entry);
    }
    return entry;
  }
}
