import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface EmbeddingRequest {
  model: string;
  input: string[];
  encoding_format?: string;
  dimensions?: number;
}

/**
 * A route the fake serves beside /v1/embeddings (the Files and Batches API): true when it answered.
 */
export type FakeRoute = (
  request: IncomingMessage,
  body: Buffer,
  response: ServerResponse,
) => boolean | Promise<boolean>;

/** What a throttling provider answers: OpenAI's 429 with its rate-limit headers. */
export interface ThrottleOptions {
  /** Requests answered per window before 429s start. */
  requestsPerWindow: number;
  windowMs: number;
}

/**
 * Stands in for a paid embedding API (OpenAI, and the servers that copy its wire format):
 * POST /embeddings with {model, input[], encoding_format} answers
 * {object: "list", data: [{object: "embedding", index, embedding}], model, usage}, and errors
 * as {error: {message, type, code}}. Vectors are a deterministic function of the text.
 */
export class FakeEmbeddingServer {
  private server: Server | undefined;
  readonly requests: EmbeddingRequest[] = [];
  /** The requests answered with vectors (billed), in order. */
  readonly answered: EmbeddingRequest[] = [];
  readonly authorizations: Array<string | undefined> = [];
  private failures: number[] = [];
  private hangs = 0;
  private holds: Array<Promise<void>> = [];
  private rejectedMarker: string | undefined;
  delayMs = 0;
  /** Answer without `usage` (as some OpenAI-compatible servers do). */
  omitUsage = false;
  /** Answer every request as OpenAI does for an account out of credit (429 insufficient_quota). */
  quotaExhausted = false;
  /** 429 answers given. */
  throttledCount = 0;
  private throttle: (ThrottleOptions & { windowStart: number; used: number }) | undefined;
  private readonly routes: FakeRoute[] = [];

  constructor(private readonly options: { dimensions: number }) {}

  /** Serves another route on this server (checked before /v1/embeddings). */
  addRoute(route: FakeRoute): void {
    this.routes.push(route);
  }

  /**
   * Throttles like OpenAI: past `requestsPerWindow` in a window, 429 with retry-after-ms,
   * x-ratelimit-remaining-requests 0 and x-ratelimit-reset-requests; successes carry the headers too.
   */
  throttleTo(options: ThrottleOptions | undefined): void {
    this.throttle = options ? { ...options, windowStart: Date.now(), used: 0 } : undefined;
  }

  private rateLimitHeaders(): Record<string, string> {
    const throttle = this.throttle;
    if (!throttle) return {};
    const now = Date.now();
    if (now - throttle.windowStart >= throttle.windowMs) {
      throttle.windowStart = now;
      throttle.used = 0;
    }
    const resetMs = Math.max(1, throttle.windowStart + throttle.windowMs - now);
    return {
      'x-ratelimit-limit-requests': String(throttle.requestsPerWindow),
      'x-ratelimit-remaining-requests': String(Math.max(0, throttle.requestsPerWindow - throttle.used)),
      'x-ratelimit-reset-requests': `${resetMs}ms`,
    };
  }

  /** True when the request must be refused with 429 (and counts it otherwise). */
  private overLimit(): boolean {
    const throttle = this.throttle;
    if (!throttle) return false;
    this.rateLimitHeaders();
    if (throttle.used >= throttle.requestsPerWindow) return true;
    throttle.used++;
    return false;
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (chunk: Buffer) => parts.push(chunk));
      request.on('end', async () => {
        const raw = Buffer.concat(parts);
        for (const route of this.routes) if (await route(request, raw, response)) return;
        const body = raw.toString('utf8');
        if (request.method !== 'POST' || request.url !== '/v1/embeddings') {
          response
            .writeHead(404, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: { message: 'not found' } }));
          return;
        }
        const parsed = JSON.parse(body) as EmbeddingRequest;
        this.requests.push(parsed);
        this.authorizations.push(request.headers.authorization);
        if (this.hangs > 0) {
          this.hangs--;
          return; // never answer: the client must time out
        }
        const hold = this.holds.shift();
        if (hold) await hold;
        if (
          this.rejectedMarker !== undefined &&
          parsed.input.some((text) => text.includes(this.rejectedMarker!))
        ) {
          // What a real API does with an input it will not take (too long, flagged): 400, every time.
          response.writeHead(400, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              error: { message: 'fake rejection of an input', type: 'invalid_request_error', code: null },
            }),
          );
          return;
        }
        if (this.quotaExhausted) {
          response.writeHead(429, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              error: {
                message: 'You exceeded your current quota',
                type: 'insufficient_quota',
                code: 'insufficient_quota',
              },
            }),
          );
          return;
        }
        if (this.overLimit()) {
          this.throttledCount++;
          const headers = this.rateLimitHeaders();
          response
            .writeHead(429, {
              'content-type': 'application/json',
              'retry-after-ms': headers['x-ratelimit-reset-requests']!.replace('ms', ''),
              ...headers,
            })
            .end(
              JSON.stringify({
                error: {
                  message: 'Rate limit reached for requests',
                  type: 'requests',
                  code: 'rate_limit_exceeded',
                },
              }),
            );
          return;
        }
        const failure = this.failures.shift();
        if (failure !== undefined) {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (failure === 429) headers['retry-after'] = '1';
          response.writeHead(failure, headers).end(
            JSON.stringify({
              error: { message: `fake failure ${failure}`, type: 'server_error', code: null },
            }),
          );
          return;
        }
        if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        this.answered.push(parsed);
        response.writeHead(200, { 'content-type': 'application/json', ...this.rateLimitHeaders() }).end(
          JSON.stringify({
            object: 'list',
            data: parsed.input.map((text, index) => ({
              object: 'embedding',
              index,
              embedding: Array.from(this.vectorFor(text)),
            })),
            model: parsed.model,
            ...(this.omitUsage
              ? {}
              : {
                  usage: {
                    prompt_tokens: this.tokensOf(parsed.input),
                    total_tokens: this.tokensOf(parsed.input),
                  },
                }),
          }),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/v1`;
  }

  /** The fake's billing: one token per whitespace-separated word (at least one per input). */
  tokensOf(input: readonly string[]): number {
    return input.reduce((sum, text) => sum + Math.max(1, text.split(/\s+/).filter(Boolean).length), 0);
  }

  vectorFor(text: string): Float32Array {
    const digest = createHash('sha256').update(text).digest();
    const vector = new Float32Array(this.options.dimensions);
    for (let i = 0; i < vector.length; i++) vector[i] = (digest[i % digest.length]! - 127.5) / 127.5;
    return vector;
  }

  failNext(statuses: number[]): void {
    this.failures.push(...statuses);
  }

  /** Answers 400 to every request with an input containing `marker` (a permanent rejection). */
  rejectInputsContaining(marker: string): void {
    this.rejectedMarker = marker;
  }

  hangNext(count: number): void {
    this.hangs += count;
  }

  /** The next request is answered only once the returned function is called: a slow call on cue. */
  holdNext(): () => void {
    let release!: () => void;
    this.holds.push(
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    return release;
  }

  reset(): void {
    this.requests.length = 0;
    this.answered.length = 0;
    this.authorizations.length = 0;
    this.failures = [];
    this.hangs = 0;
    this.holds = [];
    this.rejectedMarker = undefined;
    this.delayMs = 0;
    this.throttle = undefined;
    this.throttledCount = 0;
    this.omitUsage = false;
    this.quotaExhausted = false;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
