import { availableParallelism } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { SyncConfig } from '../config/config-schema.js';
import { isBilled, MeteredBatch, type SpendMeter } from '../costs/metered-embedding.js';
import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import { coerceError, ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { buildDocument } from '../pipeline/document-builder.js';
import { type EmbedStats, embedEachDocument, type TextEmbedding } from '../pipeline/embed-documents.js';
import {
  chunkEmbeddingInput,
  type EmbeddedDocument,
  embeddingInputs,
  type IndexDocument,
} from '../pipeline/index-document.js';
import type { SourceRow } from '../pipeline/source-reader.js';
import {
  type BuiltDocument,
  type DocumentSpec,
  type DocumentTask,
  deserialiseError,
  type ItemResult,
  isLocalEmbedder,
} from './document-tasks.js';
import type { CollectionRuntime } from './vectorsync-runtime.js';

/** One row of DocumentPool.prepare(): its embedded document, or the error that stopped it. */
export type PreparedDocument = { id: string; document: EmbeddedDocument } | { id: string; error: Error };

export interface DocumentPoolOptions {
  /** Worker threads; 0 does all the work on the calling thread, without a budget. */
  threads: number;
  /** Time one task may run in its thread (sync.documentBudgetMs). */
  budgetMs: number;
  /** Heap limit of each thread (sync.cpuThreadMemoryMb). */
  memoryMb: number;
  logger: Logger;
  /**
   * For tests and diagnostics: a module (path or file URL) each worker thread imports; its
   * `beforeBuild(row, data)` runs before each row is built. With hooks, every batch goes to
   * the worker threads.
   */
  workerHooks?: { module: string; data?: unknown };
  /**
   * Batches of at most this many characters of input are done on the calling thread (default
   * INLINE_MAX_CHARS).
   */
  inlineMaxChars?: number;
  /** Meters billed embedders: the cost ledger and the budgets (absent: nothing is metered). */
  spend?: SpendMeter;
}

/**
 * A batch with at most this much input is built on the calling thread: a thread hop costs more
 * than that work (about 1 ms for a dozen catalog rows), and it is provably short: the bound of one
 * search query (MAX_QUERY_CHARS), whose analysis the event loop does anyway (at most about 15 ms
 * for the worst text, typically 1 ms).
 */
const INLINE_MAX_CHARS = 4096;
/** What a worker thread is given per task: at most this many rows… */
const TASK_MAX_ROWS = 64;
/** …and this many characters of input (a row larger than this is a task of its own). */
const TASK_MAX_CHARS = 64 * 1024;
/** The first thread must answer within this (loading TypeScript under tsx is the slow part). */
const STARTUP_TIMEOUT_MS = 60_000;
/** Ids whose task broke the budget or a thread, remembered so their next attempt runs alone. */
const SUSPECTS_MAX = 1000;

export function resolveCpuThreads(setting: SyncConfig['cpuThreads']): number {
  return setting === 'auto' ? Math.min(4, Math.max(1, availableParallelism() - 1)) : setting;
}

type TaskOutcome =
  | { kind: 'done'; results: Array<ItemResult<BuiltDocument>> }
  | { kind: 'budget' }
  | { kind: 'died'; reason: string; outOfMemory: boolean }
  | { kind: 'unclonable'; reason: string }
  | { kind: 'unavailable'; error: VectorsyncError };

/**
 * CPU-heavy per-document work off the event loop: building documents from source rows
 * (template, analysis, payload) and the local CPU embedders (hash, wink) run in a pool of
 * worker threads (piscina), started on first use and closed with the runtime. Each task has a
 * time budget counted from the moment its thread starts it; a task that exceeds it, or whose
 * thread dies (e.g. at its memory limit), is stopped, its thread replaced, and its rows retried
 * one by one, so only the row at fault fails (DOCUMENT_BUDGET_EXCEEDED, DOCUMENT_WORKER_DIED).
 * Batches with little text (provably cheap) stay on the calling thread.
 */
export class DocumentPool {
  private pool: Promise<Piscina> | undefined;
  private readonly running = new Set<{ abort(error: VectorsyncError): void }>();
  private readonly suspects = new Set<string>();
  private readonly specs = new WeakMap<CollectionRuntime, Map<string, DocumentSpec>>();
  private readonly inlineMaxChars: number;
  private closed = false;

  constructor(private readonly options: DocumentPoolOptions) {
    this.inlineMaxChars = options.workerHooks ? -1 : (options.inlineMaxChars ?? INLINE_MAX_CHARS);
  }

  /** True once worker threads have been started (for status and tests). */
  get started(): boolean {
    return this.pool !== undefined;
  }

  /**
   * Builds and embeds the documents of the given rows: one result per row, in order. A row
   * that cannot be built or embedded fails alone; an embedder that is down fails the rows it
   * was asked for (with its transient error). Texts in the embedding cache are not embedded
   * again (a local embedder in the worker threads has already computed them with the build).
   */
  async prepare(
    collection: CollectionRuntime,
    rows: readonly SourceRow[],
    embedding: EmbeddingProfile = collection.embedding,
  ): Promise<{ documents: PreparedDocument[]; stats: EmbedStats }> {
    const { embedder } = embedding;
    const built = await this.build(collection, rows, embedding);
    const documents: IndexDocument[] = [];
    const computed = new Map<string, Float32Array>();
    const prepared = new Map<string, PreparedDocument>();
    rows.forEach((row, index) => {
      const result = built[index]!;
      if (result instanceof Error) {
        prepared.set(row.id, { id: row.id, error: result });
        return;
      }
      documents.push(result.document);
      if (result.vector) computed.set(result.document.text, result.vector);
      result.chunkVectors?.forEach((vector, index) => {
        computed.set(chunkEmbeddingInput(result.document.chunks![index]!), vector);
      });
    });
    let stats: EmbedStats = { requested: documents.length, cached: 0, embedded: 0 };
    if (documents.length > 0) {
      const metered =
        this.options.spend && isBilled(embedder)
          ? new MeteredBatch(this.options.spend, collection.name, embedder, tenantsByText(documents))
          : undefined;
      const embedTexts = async (texts: string[]): Promise<TextEmbedding[]> => {
        const missing = texts.filter((text) => !computed.has(text));
        // A text a spent budget holds back answers with that budget's error.
        const refused = new Map<string, Error>();
        if (missing.length > 0) {
          const vectors = metered ? await metered.embed(missing) : await embedder.embed(missing);
          missing.forEach((text, index) => {
            const vector = vectors[index];
            if (vector instanceof Error) refused.set(text, vector);
            else if (vector) computed.set(text, vector);
          });
        }
        return texts.map(
          (text) =>
            computed.get(text) ??
            refused.get(text) ??
            new Error(`embedder ${embedder.modelId} returned no vector`),
        );
      };
      let cacheAnswered = false;
      try {
        const embedded = await embedEachDocument(documents, embedder, embedding.cache, embedTexts);
        cacheAnswered = true;
        stats = embedded.stats;
        for (const result of embedded.results) {
          const { id } = result.document;
          prepared.set(
            id,
            'error' in result ? { id, error: result.error } : { id, document: result.document },
          );
        }
      } catch (error) {
        for (const document of documents)
          prepared.set(document.id, { id: document.id, error: coerceError(error) });
      } finally {
        // What was billed is recorded even when the batch failed after the provider answered.
        if (metered)
          metered.finish(
            documents.flatMap((document) => embeddingInputs(document).map((input) => input.text)),
            { cacheAnswered },
          );
      }
    }
    return { documents: rows.map((row) => prepared.get(row.id)!), stats };
  }

  /**
   * The document of each row (with its vector when a local embedder ran beside the build), or
   * the error that stopped it, in order. The embedding profile is the index version's: its
   * identity is part of each document's content hash.
   */
  async build(
    collection: CollectionRuntime,
    rows: readonly SourceRow[],
    embedding: EmbeddingProfile = collection.embedding,
  ): Promise<Array<BuiltDocument | Error>> {
    if (rows.length === 0) return [];
    if (this.isSmall(rows)) {
      return rows.map((row) => {
        try {
          return {
            document: buildDocument(collection.definition, row, embedding.embedder, collection.analyzer),
          };
        } catch (error) {
          return coerceError(error);
        }
      });
    }
    const spec = this.specOf(collection, embedding);
    const embedder = isLocalEmbedder(embedding.config) ? embedding.config : undefined;
    const chunks = this.chunk(collection.name, rows);
    const results = await Promise.all(
      chunks.map((chunk) =>
        this.runChunk(collection.name, chunk, (items, started) => ({
          kind: 'build',
          spec,
          rows: items,
          embedder,
          started,
        })),
      ),
    );
    // Chunks are not in row order (a large or suspect row is a task of its own, sent ahead of
    // the rows gathered so far): put each result back at its row's position.
    const position = new Map(rows.map((row, index) => [row, index]));
    const ordered = new Array<BuiltDocument | Error>(rows.length);
    chunks.forEach((chunk, c) => {
      chunk.forEach((row, i) => {
        ordered[position.get(row)!] = results[c]![i]!;
      });
    });
    return ordered;
  }

  /** Starts the threads now, in the background, rather than on the first batch that needs them. */
  warmUp(): void {
    if (this.options.threads > 0) void this.threads().catch(() => undefined);
  }

  /** Stops the threads; work still running fails with a transient error and is retried elsewhere. */
  async close(): Promise<void> {
    this.closed = true;
    const closing = unavailable('the document worker pool is closed');
    for (const task of [...this.running]) task.abort(closing);
    const pool = this.pool;
    this.pool = undefined;
    const piscina = await pool?.catch(() => undefined);
    await piscina?.destroy();
  }

  /** Rows with little text, provably cheap to build on the calling thread (or no threads at all). */
  private isSmall(rows: readonly SourceRow[]): boolean {
    if (this.options.threads === 0) return true;
    let total = 0;
    for (const row of rows) {
      total += rowSize(row);
      if (total > this.inlineMaxChars) return false;
    }
    return true;
  }

  /** Tasks of at most TASK_MAX_ROWS rows and TASK_MAX_CHARS characters; a large or suspect row alone. */
  private chunk(collection: string, rows: readonly SourceRow[]): SourceRow[][] {
    const chunks: SourceRow[][] = [];
    let current: SourceRow[] = [];
    let chars = 0;
    for (const row of rows) {
      const size = rowSize(row);
      if (size >= TASK_MAX_CHARS || this.suspects.has(suspectKey(collection, row.id))) {
        chunks.push([row]);
        continue;
      }
      if (current.length >= TASK_MAX_ROWS || chars + size > TASK_MAX_CHARS) {
        chunks.push(current);
        current = [];
        chars = 0;
      }
      current.push(row);
      chars += size;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  /** Runs one task; when it breaks (budget, thread death), its rows are retried one by one. */
  private async runChunk(
    collection: string,
    rows: SourceRow[],
    task: (rows: SourceRow[], started: SharedArrayBuffer) => DocumentTask,
  ): Promise<Array<BuiltDocument | Error>> {
    const started = new SharedArrayBuffer(4);
    const outcome = await this.runTask(task(rows, started), started);
    if (outcome.kind === 'done') {
      return outcome.results.map((result) => (result.ok ? result.value : deserialiseError(result.error)));
    }
    if (outcome.kind === 'unavailable') return rows.map(() => outcome.error);
    if (rows.length > 1) {
      // Which row broke the task is unknown: each gets a task (and a budget) of its own.
      this.options.logger.warn(
        { collection, rows: rows.length, outcome: outcome.kind },
        'document task stopped; retrying its rows one by one',
      );
      const singles = await Promise.all(rows.map((row) => this.runChunk(collection, [row], task)));
      return singles.flat();
    }
    const id = rows[0]!.id;
    this.suspect(suspectKey(collection, id));
    const error = this.failure(outcome, collection, id);
    this.options.logger.warn(
      { collection, id, code: error.code, err: error.message },
      'document failed in its worker thread',
    );
    return [error];
  }

  private failure(
    outcome: Exclude<TaskOutcome, { kind: 'done' } | { kind: 'unavailable' }>,
    collection: string,
    id: string,
  ): VectorsyncError {
    const what = `document ${id} of collection "${collection}"`;
    switch (outcome.kind) {
      case 'budget':
        return new VectorsyncError(
          ErrorCode.DocumentBudgetExceeded,
          `${what} took longer than its budget of ${this.options.budgetMs} ms to build and embed (sync.documentBudgetMs); its worker thread was stopped and replaced`,
          { details: { collection, id, budgetMs: this.options.budgetMs } },
        );
      case 'died':
        return new VectorsyncError(
          ErrorCode.DocumentWorkerDied,
          `the worker thread building ${what} died: ${outcome.reason}${outcome.outOfMemory ? ` (sync.cpuThreadMemoryMb is ${this.options.memoryMb})` : ''}`,
          { details: { collection, id, reason: outcome.reason, memoryMb: this.options.memoryMb } },
        );
      case 'unclonable':
        return new VectorsyncError(
          ErrorCode.InvalidFieldValue,
          `${what} cannot be handed to a worker thread: ${outcome.reason}`,
          { details: { collection, id } },
        );
    }
  }

  private suspect(key: string): void {
    if (this.suspects.size >= SUSPECTS_MAX) this.suspects.clear();
    this.suspects.add(key);
  }

  /** Runs one task with its budget; never throws. */
  private async runTask(task: DocumentTask, started: SharedArrayBuffer): Promise<TaskOutcome> {
    let piscina: Piscina;
    try {
      piscina = await this.threads();
    } catch (error) {
      return { kind: 'unavailable', error: error as VectorsyncError };
    }
    const controller = new AbortController();
    let stoppedBy: 'budget' | VectorsyncError | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const handle = {
      abort: (error: VectorsyncError) => {
        stoppedBy ??= error;
        controller.abort(error);
      },
    };
    this.running.add(handle);
    const flag = new Int32Array(started);
    const startBudget = () => {
      if (settled) return;
      timer = setTimeout(() => {
        stoppedBy ??= 'budget';
        controller.abort(new Error('document budget exceeded'));
      }, this.options.budgetMs);
      timer.unref();
    };
    const wait = waitAsync(flag, 0, 0);
    if (wait.async) void wait.value.then(startBudget);
    else startBudget();
    try {
      const results = (await piscina.run(task, { signal: controller.signal })) as Array<
        ItemResult<BuiltDocument>
      >;
      return { kind: 'done', results };
    } catch (error) {
      if (stoppedBy === 'budget') return { kind: 'budget' };
      if (stoppedBy) return { kind: 'unavailable', error: stoppedBy };
      if (this.closed)
        return { kind: 'unavailable', error: unavailable('the document worker pool is closed') };
      const err = coerceError(error);
      if (err.name === 'DataCloneError') return { kind: 'unclonable', reason: err.message };
      const code = (err as { code?: unknown }).code;
      return { kind: 'died', reason: err.message, outOfMemory: code === 'ERR_WORKER_OUT_OF_MEMORY' };
    } finally {
      settled = true;
      clearTimeout(timer);
      this.running.delete(handle);
      // Wakes the waiter of a task that never started (aborted in the queue, pool closed).
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
    }
  }

  /** The piscina pool, started on first use and checked with a first task. */
  private threads(): Promise<Piscina> {
    if (this.closed) return Promise.reject(unavailable('the document worker pool is closed'));
    this.pool ??= this.start().catch((error: unknown) => {
      this.pool = undefined;
      throw error;
    });
    return this.pool;
  }

  private async start(): Promise<Piscina> {
    const { threads, memoryMb, workerHooks, logger } = this.options;
    const piscina = new Piscina({
      filename: workerFile(),
      minThreads: 1,
      maxThreads: threads,
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: memoryMb },
      workerData: workerHooks ? { hooks: workerHooks } : {},
    });
    piscina.on('error', (error: unknown) => this.onPoolError(piscina, coerceError(error)));
    const started = new SharedArrayBuffer(4);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), STARTUP_TIMEOUT_MS);
    const handle = { abort: (error: VectorsyncError) => controller.abort(error) };
    this.running.add(handle);
    try {
      await piscina.run({ kind: 'ping', started } satisfies DocumentTask, { signal: controller.signal });
    } catch (error) {
      await piscina.destroy().catch(() => undefined);
      const reason = controller.signal.aborted
        ? `no answer within ${STARTUP_TIMEOUT_MS} ms`
        : coerceError(error).message;
      logger.error({ err: reason }, 'document worker threads did not start');
      throw unavailable(`the document worker threads did not start: ${reason}`);
    } finally {
      clearTimeout(timer);
      this.running.delete(handle);
    }
    logger.info({ threads, memoryMb, budgetMs: this.options.budgetMs }, 'document worker threads started');
    return piscina;
  }

  /** A thread failed outside any task (e.g. while starting): start afresh on the next use. */
  private onPoolError(piscina: Piscina, error: Error): void {
    this.options.logger.error({ err: error.message }, 'document worker thread failed; restarting the pool');
    const failed = unavailable(`a document worker thread failed: ${error.message}`);
    for (const task of [...this.running]) task.abort(failed);
    this.pool = undefined;
    void piscina.destroy().catch(() => undefined);
  }

  private specOf(collection: CollectionRuntime, embedding: EmbeddingProfile): DocumentSpec {
    let byProfile = this.specs.get(collection);
    if (!byProfile) {
      byProfile = new Map();
      this.specs.set(collection, byProfile);
    }
    let spec = byProfile.get(embedding.key);
    if (!spec) {
      const { definition, analyzer } = collection;
      const { embedder } = embedding;
      spec = {
        collection: definition.name,
        table: { schema: definition.table.schema, name: definition.table.name },
        tenantColumn: definition.tenantColumn.name,
        versionColumn: definition.versionColumn.name,
        template: definition.template.source,
        keywordFields: [...definition.keywordFields],
        payloadFields: definition.payloadFields.map((field) => ({
          name: field.name,
          type: field.type,
          ...(field.key !== undefined ? { key: field.key } : {}),
        })),
        analyzer: { ...analyzer.config },
        embedder: { modelId: embedder.modelId, dimensions: embedder.dimensions },
        ...(definition.config.chunking ? { chunking: definition.config.chunking } : {}),
      };
      byProfile.set(embedding.key, spec);
    }
    return spec;
  }
}

/** Atomics.waitAsync (Node 16+; typed in TypeScript's ES2024 library, newer than this project's). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      cell: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

function suspectKey(collection: string, id: string): string {
  return `${collection}\u0000${id}`;
}

function unavailable(message: string): VectorsyncError {
  return new VectorsyncError(ErrorCode.DocumentPoolUnavailable, message, { transient: true });
}

/**
 * The worker entry beside this file: compiled, document-worker.js; from the TypeScript sources
 * (under tsx), a JavaScript entry that registers tsx in the thread first.
 */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), extname(here) === '.ts' ? 'document-worker-tsx.mjs' : 'document-worker.js');
}

/**
 * Characters of input a row hands to the template and the analyzer, counted until it passes
 * TASK_MAX_CHARS (nested JSON values are walked without recursion).
 */
function rowSize(row: SourceRow): number {
  let size = 0;
  const pending: unknown[] = Object.values(row.values);
  while (pending.length > 0 && size < TASK_MAX_CHARS) {
    const value = pending.pop();
    if (typeof value === 'string') size += value.length;
    else if (value === null || typeof value !== 'object' || value instanceof Date) size += 24;
    else if (ArrayBuffer.isView(value)) size += value.byteLength * 2;
    else if (Array.isArray(value)) {
      size += 2;
      for (let i = 0; i < value.length && size < TASK_MAX_CHARS; i++, size += 2) pending.push(value[i]);
    } else {
      size += 2;
      for (const key in value) {
        if (size >= TASK_MAX_CHARS) break;
        size += key.length + 4;
        pending.push((value as Record<string, unknown>)[key]);
      }
    }
  }
  return size;
}

/** The tenants each embedding input is needed for, in document order. */
function tenantsByText(documents: readonly IndexDocument[]): Map<string, string[]> {
  const tenants = new Map<string, string[]>();
  for (const document of documents) {
    for (const { text: input } of embeddingInputs(document)) {
      const list = tenants.get(input);
      if (!list) tenants.set(input, [document.tenant]);
      else if (!list.includes(document.tenant)) list.push(document.tenant);
    }
  }
  return tenants;
}
