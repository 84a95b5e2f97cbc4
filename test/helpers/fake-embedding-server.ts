import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface EmbeddingRequest {
  model: string;
  input: string[];
  encoding_format?: string;
  dimensions?: number;
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
  readonly authorizations: Array<string | undefined> = [];
  private failures: number[] = [];
  private hangs = 0;
  private holds: Array<Promise<void>> = [];
  private rejectedMarker: string | undefined;
  delayMs = 0;

  constructor(private readonly options: { dimensions: number }) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', async () => {
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
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            object: 'list',
            data: parsed.input.map((text, index) => ({
              object: 'embedding',
              index,
              embedding: Array.from(this.vectorFor(text)),
            })),
            model: parsed.model,
            usage: { prompt_tokens: parsed.input.length, total_tokens: parsed.input.length },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/v1`;
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
    this.authorizations.length = 0;
    this.failures = [];
    this.hangs = 0;
    this.holds = [];
    this.rejectedMarker = undefined;
    this.delayMs = 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
