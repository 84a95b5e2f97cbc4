import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import {
  approximateTokenCounter,
  type TokenCounter,
  type TokenEncoding,
  tokenCounterFor,
} from '../pipeline/token-counter.js';
import type { Embedder, EmbedOptions } from './embedder.js';
import { type LimiterState, ProviderLimiter, type ProviderLimits, retryAfterMs } from './provider-limiter.js';

export interface OpenAiEmbedderOptions {
  model: string;
  dimensions: number;
  /** e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama), http://tei:8080/v1 */
  baseUrl: string;
  apiKey?: string;
  requestDimensions?: boolean;
  batchSize?: number;
  timeoutMs?: number;
  maxRetries?: number;
  maxInputChars?: number;
  logger?: Logger;
  /** Client-side limits; the provider's own limits (429, headers) are honoured in any case. */
  limits?: Partial<ProviderLimits>;
  /** The encoding whose token counts estimate a request when the answer carries no `usage`. */
  tokenizer?: TokenEncoding;
  /** The provider bills by the token (default: api.openai.com and Azure OpenAI only). */
  billed?: boolean;
  /** Injected for tests of the backoff schedule; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

interface EmbeddingResponse {
  data?: Array<{ index?: number; embedding?: unknown }>;
  model?: string;
  usage?: { prompt_tokens?: unknown; total_tokens?: unknown };
}

/**
 * Client for the OpenAI embeddings wire format (POST {baseUrl}/embeddings), which OpenAI,
 * Azure-compatible gateways, Ollama, vLLM and Hugging Face TEI all speak. Retries 429 and
 * 5xx with capped, jittered exponential backoff (honouring Retry-After); any other 4xx is
 * a permanent error carrying the server's message.
 */
export class OpenAiEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimensions: number;
  readonly maxBatchSize: number;
  private readonly options: Required<Omit<OpenAiEmbedderOptions, 'apiKey' | 'limits' | 'billed'>> & {
    apiKey: string | undefined;
  };
  readonly limiter: ProviderLimiter;
  /** Metered (ledger, budgets, spend confirmation): a provider that bills by the token. */
  readonly billed: boolean;
  private tokens: TokenCounter = approximateTokenCounter;

  constructor(options: OpenAiEmbedderOptions) {
    this.modelId = `openai:${options.model}`;
    this.dimensions = options.dimensions;
    this.maxBatchSize = options.batchSize ?? 96;
    this.options = {
      requestDimensions: false,
      batchSize: this.maxBatchSize,
      timeoutMs: 30_000,
      maxRetries: 5,
      maxInputChars: 8000,
      logger: silentLogger,
      tokenizer: 'cl100k_base',
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...options,
      apiKey: options.apiKey,
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
    };
    this.billed = options.billed ?? isHostedOpenAi(this.options.baseUrl);
    this.limiter = new ProviderLimiter(
      `${this.modelId} at ${this.options.baseUrl}`,
      { concurrency: 4, maxWaitMs: 2000, ...options.limits },
      Date.now,
      this.options.sleep,
    );
  }

  /** Loads the tokenizer that estimates requests (the approximation without gpt-tokenizer). */
  async init(): Promise<void> {
    this.tokens = await tokenCounterFor(this.options.tokenizer);
  }

  limits(): LimiterState {
    return this.limiter.state();
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const vectors: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += this.maxBatchSize) {
      const batch = texts.slice(start, start + this.maxBatchSize).map((text) => this.prepareInput(text));
      vectors.push(...(await this.embedBatch(batch, options)));
    }
    return vectors;
  }

  /** What the request will cost in tokens, before the provider says. */
  estimateTokens(texts: readonly string[]): { tokens: number; exact: boolean } {
    let tokens = 0;
    for (const text of texts) tokens += this.tokens.count(this.prepareInput(text));
    return { tokens, exact: this.tokens.exact };
  }

  prepareInput(text: string): string {
    // Providers reject empty inputs; a single space embeds as "nothing" consistently.
    if (text.trim() === '') return ' ';
    if (text.length <= this.options.maxInputChars) return text;
    const cut = text.slice(0, this.options.maxInputChars);
    const lastSpace = cut.lastIndexOf(' ');
    return lastSpace > this.options.maxInputChars * 0.8 ? cut.slice(0, lastSpace) : cut;
  }

  private async embedBatch(input: string[], options: EmbedOptions): Promise<Float32Array[]> {
    const { signal } = options;
    // Tokenizing costs CPU on every request: only when a TPM limit or a missing `usage` needs it.
    let counted: { tokens: number; exact: boolean } | undefined;
    const estimate = () => (counted ??= this.estimateTokens(input));
    const body = JSON.stringify({
      model: this.options.model,
      input,
      encoding_format: 'float',
      ...(this.options.requestDimensions ? { dimensions: this.dimensions } : {}),
    });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;

    let lastProblem = '';
    // The last attempt met a rate limit (not an outage, not an empty account).
    let throttled = false;
    for (let attempt = 0; attempt <= this.options.maxRetries; attempt++) {
      if (signal?.aborted) throw new VectorsyncError(ErrorCode.Aborted, 'embedding aborted');
      const release = await this.limiter.acquire(this.limiter.countsTokens ? estimate().tokens : 0);
      let response: Response;
      let text: string;
      try {
        const timeout = AbortSignal.timeout(this.options.timeoutMs);
        response = await fetch(`${this.options.baseUrl}/embeddings`, {
          method: 'POST',
          headers,
          body,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        text = await response.text();
      } catch (error) {
        release();
        if (signal?.aborted)
          throw new VectorsyncError(ErrorCode.Aborted, 'embedding aborted', { cause: error });
        const reason =
          (error as Error).name === 'TimeoutError'
            ? `timed out after ${this.options.timeoutMs} ms`
            : (error as Error).message;
        lastProblem = `request failed: ${reason}`;
        throttled = false;
        await this.backoff(attempt, undefined, lastProblem);
        continue;
      }
      release();
      if (response.ok) {
        this.limiter.succeeded(response.headers);
        const json = parseJson(text);
        const reported = reportedTokens(json);
        // Billed even when the answer turns out unusable (a wrong dimension): count it first.
        options.onUsage?.({
          requests: 1,
          tokens: reported ?? estimate().tokens,
          estimated: reported === undefined,
          exact: reported !== undefined || estimate().exact,
        });
        return this.parseResponse(json, input.length);
      }

      const message = extractErrorMessage(text) ?? response.statusText;
      // OpenAI's 429 for an account out of credit is no rate limit: waiting will not end it.
      if (response.status === 429 && extractErrorCode(text) !== 'insufficient_quota') {
        lastProblem = `HTTP 429: ${message}`;
        throttled = true;
        const waitMs = this.limiter.throttledBy(response.headers, this.exponential(attempt));
        this.options.logger.warn(
          { model: this.options.model, attempt: attempt + 1, waitMs, problem: lastProblem },
          'embedding provider is throttling',
        );
        // The next acquire() waits inline for a short block, or defers the work for a long one.
        continue;
      }
      if (response.status >= 500 || response.status === 429) {
        lastProblem = `HTTP ${response.status}: ${message}`;
        throttled = false;
        await this.backoff(attempt, retryAfterMs(response.headers), lastProblem);
        continue;
      }
      throw new VectorsyncError(
        ErrorCode.EmbedderFailed,
        `embedding model ${this.options.model} at ${this.options.baseUrl} rejected the request: HTTP ${response.status}: ${message}`,
        { details: { status: response.status, model: this.options.model } },
      );
    }
    if (throttled) {
      // Throttled to the end: a deferral, so only the collections using this provider wait.
      const retryAfter = Math.ceil(
        Math.max(this.limiter.blockedFor(), this.exponential(this.options.maxRetries)),
      );
      throw new VectorsyncError(
        ErrorCode.EmbedderRateLimited,
        `embedding provider ${this.options.baseUrl} was still answering 429 after ${this.options.maxRetries + 1} attempts (last: ${lastProblem}); the work waits ${retryAfter} ms (nothing is dropped)`,
        { transient: true, details: { model: this.options.model, retryAfterMs: retryAfter } },
      );
    }
    throw new VectorsyncError(
      ErrorCode.EmbedderUnavailable,
      `embedding service ${this.options.baseUrl} unavailable after ${this.options.maxRetries + 1} attempts (last: ${lastProblem})`,
      { transient: true, details: { model: this.options.model } },
    );
  }

  private exponential(attempt: number): number {
    const exponential = Math.min(20_000, 250 * 2 ** attempt);
    // Full jitter: spreads retries of many workers instead of synchronising them.
    return Math.round(exponential / 2 + Math.random() * (exponential / 2));
  }

  private async backoff(attempt: number, retryAfter: number | undefined, problem: string): Promise<void> {
    if (attempt >= this.options.maxRetries) return;
    const delay = retryAfter ?? this.exponential(attempt);
    this.options.logger.warn(
      { model: this.options.model, attempt: attempt + 1, delayMs: delay, problem },
      'embedding request failed; retrying',
    );
    await this.options.sleep(Math.min(delay, 60_000));
  }

  private parseResponse(json: unknown, expected: number): Float32Array[] {
    const data = (json as EmbeddingResponse).data;
    if (!Array.isArray(data) || data.length !== expected) {
      throw new VectorsyncError(
        ErrorCode.EmbedderFailed,
        `embedding response for model ${this.options.model} has ${Array.isArray(data) ? data.length : 'no'} embeddings for ${expected} inputs`,
      );
    }
    const vectors = new Array<Float32Array>(expected);
    data.forEach((item, position) => {
      const index = typeof item.index === 'number' ? item.index : position;
      const embedding = item.embedding;
      if (!Array.isArray(embedding)) {
        throw new VectorsyncError(
          ErrorCode.EmbedderFailed,
          `embedding ${index} from model ${this.options.model} is not an array of floats`,
        );
      }
      if (embedding.length !== this.dimensions) {
        throw new VectorsyncError(
          ErrorCode.DimensionMismatch,
          `model ${this.options.model} returned ${embedding.length}-dimensional vectors but the collection is configured for ${this.dimensions}`,
          { details: { model: this.options.model, expected: this.dimensions, received: embedding.length } },
        );
      }
      vectors[index] = Float32Array.from(embedding as number[]);
    });
    return vectors;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The provider's count of the request's input tokens, when its answer has one. */
function reportedTokens(json: unknown): number | undefined {
  const usage = (json as EmbeddingResponse | undefined)?.usage;
  const tokens = usage?.prompt_tokens ?? usage?.total_tokens;
  return typeof tokens === 'number' && Number.isFinite(tokens) && tokens >= 0 ? tokens : undefined;
}

/** The `error.code` of an OpenAI error body (`rate_limit_exceeded`, `insufficient_quota`, …). */
function extractErrorCode(body: string): string | undefined {
  const code = (parseJson(body) as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

function extractErrorMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string; message?: string };
    if (typeof parsed.error === 'string') return parsed.error;
    return parsed.error?.message ?? parsed.message;
  } catch {
    return body.slice(0, 300) || undefined;
  }
}

/** OpenAI's own API or Azure OpenAI: the endpoints known to bill by the token. */
function isHostedOpenAi(baseUrl: string): boolean {
  try {
    const { hostname } = new URL(baseUrl);
    return (
      hostname === 'api.openai.com' ||
      // Data-residency hosts (eu.api.openai.com) and both kinds of Azure OpenAI resource.
      hostname.endsWith('.api.openai.com') ||
      hostname.endsWith('.openai.azure.com') ||
      hostname.endsWith('.cognitiveservices.azure.com')
    );
  } catch {
    return false;
  }
}
