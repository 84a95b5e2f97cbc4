import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeEmbeddingServer, FakeRoute } from './fake-embedding-server.js';

export type FakeBatchEndpoint = 'upload' | 'create' | 'retrieve' | 'content' | 'cancel';

type Status =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** How a request the test chose fails: a non-200 answer, a non-HTTP error, or no line at all. */
export type FakeRequestFailure = 'status' | 'error' | 'missing';

export interface FakeOpenAiBatchesOptions {
  /**
   * Each GET of a batch first moves it one step (validating → in_progress → finalizing →
   * completed), so a lane that polls drives it; false: only `advance()` does. Default true.
   */
  advanceOnRetrieve?: boolean;
  /** When set, requests without `Authorization: Bearer <apiKey>` get OpenAI's 401. */
  apiKey?: string;
}

export interface FakeRequestLine {
  custom_id: string;
  method: string;
  url: string;
  body: { model: string; input: string | string[]; encoding_format?: string; dimensions?: number };
}

interface FakeFile {
  id: string;
  filename: string;
  purpose: string;
  content: string;
}

interface FakeBatch {
  id: string;
  status: Status;
  input_file_id: string;
  output_file_id: string | null;
  error_file_id: string | null;
  metadata: Record<string, string>;
  request_counts: { total: number; completed: number; failed: number };
  errors: { object: 'list'; data: Array<{ code: string; message: string; line: number | null }> } | null;
  created_at: number;
  lines: FakeRequestLine[];
  /** Set at creation from the test's plans: expire after this many requests, or fail validation. */
  expireAfter?: number;
  validationError?: string;
}

/** Shared by every fake in the process: like OpenAI's, ids never repeat (the lane keeps them unique). */
let idCounter = 0;

const ended: ReadonlySet<Status> = new Set(['failed', 'completed', 'expired', 'cancelled']);

/**
 * OpenAI's Files and Batches API for embedding batches, served by a FakeEmbeddingServer:
 * multipart uploads checked like OpenAI checks a batch file, batches that move through the
 * documented statuses on the test's cue, and output and error files in the documented line
 * format with the server's vectors (`vectorFor`) and billing (`tokensOf`).
 */
export class FakeOpenAiBatches {
  readonly route: FakeRoute;
  /** Requests answered, per endpoint (injected failures included). */
  readonly requests: Record<FakeBatchEndpoint, number> = {
    upload: 0,
    create: 0,
    retrieve: 0,
    content: 0,
    cancel: 0,
  };
  readonly authorizations: Array<string | undefined> = [];
  readonly files = new Map<string, FakeFile>();
  readonly batches = new Map<string, FakeBatch>();
  private readonly failures = new Map<string, { kind: FakeRequestFailure; remaining: number }>();
  private readonly injected: Array<{ endpoint: FakeBatchEndpoint; status: number; message: string }> = [];
  private readonly plans: Array<{ expireAfter?: number; validationError?: string }> = [];

  constructor(
    private readonly server: FakeEmbeddingServer,
    private readonly options: FakeOpenAiBatchesOptions = {},
  ) {
    this.route = (request, body, response) => this.handle(request, body, response);
    server.addRoute(this.route);
  }

  /** The next `times` batches that contain each of `customIds` fail that request (default: every one). */
  failCustomIds(
    customIds: Iterable<string>,
    options: { kind?: FakeRequestFailure; times?: number } = {},
  ): void {
    for (const id of customIds)
      this.failures.set(id, {
        kind: options.kind ?? 'status',
        remaining: options.times ?? Number.POSITIVE_INFINITY,
      });
  }

  /** The next request to `endpoint` is answered with `status` and OpenAI's error body. */
  failNext(endpoint: FakeBatchEndpoint, status: number, message: string): void {
    this.injected.push({ endpoint, status, message });
  }

  /** The next batch created expires after finishing its first `completed` requests (in file order). */
  expireNextBatch(completed: number): void {
    this.plans.push({ expireAfter: completed });
  }

  /** The next batch created ends `failed` in validation, with `message` in its errors. */
  failNextBatchValidation(message: string): void {
    this.plans.push({ validationError: message });
  }

  /** Moves one batch (or every batch that has not ended) one status forward. */
  advance(batchId?: string): void {
    const targets = batchId ? [this.batches.get(batchId)!] : [...this.batches.values()];
    for (const batch of targets) if (!ended.has(batch.status)) this.step(batch);
  }

  /** The request lines of every batch created, in order. */
  submittedLines(): FakeRequestLine[] {
    return [...this.batches.values()].flatMap((batch) => batch.lines);
  }

  private nextId(prefix: string): string {
    idCounter++;
    return `${prefix}${String(idCounter).padStart(6, '0')}`;
  }

  private async handle(request: IncomingMessage, raw: Buffer, response: ServerResponse): Promise<boolean> {
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    if (!path.startsWith('/v1/files') && !path.startsWith('/v1/batches')) return false;
    this.authorizations.push(request.headers.authorization);
    if (
      this.options.apiKey !== undefined &&
      request.headers.authorization !== `Bearer ${this.options.apiKey}`
    ) {
      answerError(response, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
      return true;
    }
    const route = routeOf(request.method ?? 'GET', path);
    if (!route) {
      answerError(response, 404, `Invalid URL (${request.method} ${path})`, 'invalid_request_error', null);
      return true;
    }
    this.requests[route.endpoint]++;
    const injected = this.injected.findIndex((failure) => failure.endpoint === route.endpoint);
    if (injected >= 0) {
      const [failure] = this.injected.splice(injected, 1);
      const type = failure!.status >= 500 ? 'server_error' : 'invalid_request_error';
      answerError(response, failure!.status, failure!.message, type, null);
      return true;
    }
    switch (route.endpoint) {
      case 'upload':
        this.upload(request, raw, response);
        break;
      case 'create':
        this.create(raw, response);
        break;
      case 'retrieve': {
        const batch = this.batches.get(route.id!);
        if (!batch) return notFound(response, 'batch', route.id!);
        if (this.options.advanceOnRetrieve !== false && !ended.has(batch.status)) this.step(batch);
        answerJson(response, 200, this.batchObject(batch));
        break;
      }
      case 'content': {
        const file = this.files.get(route.id!);
        if (!file) return notFound(response, 'file', route.id!);
        response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(file.content);
        break;
      }
      case 'cancel': {
        const batch = this.batches.get(route.id!);
        if (!batch) return notFound(response, 'batch', route.id!);
        if (!ended.has(batch.status)) batch.status = 'cancelling';
        answerJson(response, 200, this.batchObject(batch));
        break;
      }
    }
    return true;
  }

  private upload(request: IncomingMessage, raw: Buffer, response: ServerResponse): void {
    const parts = parseMultipart(raw, request.headers['content-type'] ?? '');
    if (!parts) {
      answerError(response, 400, 'The request must be multipart/form-data.', 'invalid_request_error', null);
      return;
    }
    const purpose = parts.get('purpose')?.data.toString('utf8');
    const file = parts.get('file');
    if (purpose !== 'batch') {
      answerError(
        response,
        400,
        `'${purpose}' is not one of the supported purposes`,
        'invalid_request_error',
        null,
      );
      return;
    }
    if (!file || file.filename === undefined) {
      answerError(response, 400, 'No file was uploaded.', 'invalid_request_error', null);
      return;
    }
    const content = file.data.toString('utf8');
    const problem = checkBatchInput(content);
    if (problem) {
      answerError(response, 400, problem.message, 'invalid_request_error', problem.code);
      return;
    }
    const id = this.nextId('file-');
    this.files.set(id, { id, filename: file.filename, purpose, content });
    answerJson(response, 200, {
      id,
      object: 'file',
      bytes: file.data.byteLength,
      created_at: Math.floor(Date.now() / 1000),
      filename: file.filename,
      purpose,
      status: 'processed',
    });
  }

  private create(raw: Buffer, response: ServerResponse): void {
    let body: {
      input_file_id?: unknown;
      endpoint?: unknown;
      completion_window?: unknown;
      metadata?: unknown;
    };
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      answerError(
        response,
        400,
        'We could not parse the JSON body of your request.',
        'invalid_request_error',
        null,
      );
      return;
    }
    const file = typeof body.input_file_id === 'string' ? this.files.get(body.input_file_id) : undefined;
    if (file?.purpose !== 'batch') {
      answerError(
        response,
        400,
        `No batch input file ${String(body.input_file_id)}`,
        'invalid_request_error',
        null,
      );
      return;
    }
    if (body.endpoint !== '/v1/embeddings' || body.completion_window !== '24h') {
      answerError(
        response,
        400,
        'endpoint must be /v1/embeddings and completion_window 24h',
        'invalid_request_error',
        null,
      );
      return;
    }
    const lines = file.content
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as FakeRequestLine);
    const plan = this.plans.shift() ?? {};
    const batch: FakeBatch = {
      id: this.nextId('batch_'),
      status: 'validating',
      input_file_id: file.id,
      output_file_id: null,
      error_file_id: null,
      metadata: (body.metadata ?? {}) as Record<string, string>,
      request_counts: { total: 0, completed: 0, failed: 0 },
      errors: null,
      created_at: Math.floor(Date.now() / 1000),
      lines,
      ...plan,
    };
    this.batches.set(batch.id, batch);
    answerJson(response, 200, this.batchObject(batch));
  }

  private step(batch: FakeBatch): void {
    switch (batch.status) {
      case 'validating':
        if (batch.validationError) {
          batch.status = 'failed';
          batch.errors = {
            object: 'list',
            data: [{ code: 'invalid_request', message: batch.validationError, line: null }],
          };
        } else {
          batch.status = 'in_progress';
          batch.request_counts.total = batch.lines.length;
        }
        break;
      case 'in_progress':
        batch.status = 'finalizing';
        break;
      case 'finalizing':
        this.finish(batch);
        break;
      case 'cancelling':
        batch.status = 'cancelled';
        break;
      default:
        break;
    }
  }

  /** Runs the batch's requests and writes its output and error files. */
  private finish(batch: FakeBatch): void {
    const output: string[] = [];
    const errors: string[] = [];
    batch.lines.forEach((line, index) => {
      const requestId = this.nextId('batch_req_');
      if (batch.expireAfter !== undefined && index >= batch.expireAfter) {
        errors.push(
          JSON.stringify({
            id: requestId,
            custom_id: line.custom_id,
            response: null,
            error: {
              code: 'batch_expired',
              message: 'This request could not be executed before the completion window expired.',
            },
          }),
        );
        return;
      }
      const failure = this.failures.get(line.custom_id);
      if (failure && failure.remaining > 0) {
        failure.remaining--;
        if (failure.kind === 'status') {
          errors.push(
            JSON.stringify({
              id: requestId,
              custom_id: line.custom_id,
              response: {
                status_code: 500,
                request_id: this.nextId('req_'),
                body: {
                  error: { message: `fake failure of ${line.custom_id}`, type: 'server_error', code: null },
                },
              },
              error: null,
            }),
          );
        } else if (failure.kind === 'error') {
          errors.push(
            JSON.stringify({
              id: requestId,
              custom_id: line.custom_id,
              response: null,
              error: { code: 'fake_error', message: `fake error of ${line.custom_id}` },
            }),
          );
        }
        return;
      }
      const inputs = Array.isArray(line.body.input) ? line.body.input : [line.body.input];
      const tokens = this.server.tokensOf(inputs);
      output.push(
        JSON.stringify({
          id: requestId,
          custom_id: line.custom_id,
          response: {
            status_code: 200,
            request_id: this.nextId('req_'),
            body: {
              object: 'list',
              data: inputs.map((input, position) => ({
                object: 'embedding',
                index: position,
                embedding: Array.from(this.server.vectorFor(input)),
              })),
              model: line.body.model,
              usage: { prompt_tokens: tokens, total_tokens: tokens },
            },
          },
          error: null,
        }),
      );
    });
    if (output.length > 0) batch.output_file_id = this.storeOutput(batch, 'output', output);
    if (errors.length > 0) batch.error_file_id = this.storeOutput(batch, 'errors', errors);
    batch.request_counts = { total: batch.lines.length, completed: output.length, failed: errors.length };
    batch.status = batch.expireAfter !== undefined ? 'expired' : 'completed';
  }

  private storeOutput(batch: FakeBatch, kind: string, lines: string[]): string {
    const id = this.nextId('file-');
    this.files.set(id, {
      id,
      filename: `${batch.id}_${kind}.jsonl`,
      purpose: 'batch_output',
      content: `${lines.join('\n')}\n`,
    });
    return id;
  }

  private batchObject(batch: FakeBatch): Record<string, unknown> {
    return {
      id: batch.id,
      object: 'batch',
      endpoint: '/v1/embeddings',
      errors: batch.errors,
      input_file_id: batch.input_file_id,
      completion_window: '24h',
      status: batch.status,
      output_file_id: batch.output_file_id,
      error_file_id: batch.error_file_id,
      created_at: batch.created_at,
      request_counts: { ...batch.request_counts },
      metadata: batch.metadata,
    };
  }
}

function routeOf(method: string, path: string): { endpoint: FakeBatchEndpoint; id?: string } | undefined {
  if (method === 'POST' && path === '/v1/files') return { endpoint: 'upload' };
  if (method === 'POST' && path === '/v1/batches') return { endpoint: 'create' };
  let match = /^\/v1\/files\/([^/]+)\/content$/.exec(path);
  if (method === 'GET' && match) return { endpoint: 'content', id: decodeURIComponent(match[1]!) };
  match = /^\/v1\/batches\/([^/]+)\/cancel$/.exec(path);
  if (method === 'POST' && match) return { endpoint: 'cancel', id: decodeURIComponent(match[1]!) };
  match = /^\/v1\/batches\/([^/]+)$/.exec(path);
  if (method === 'GET' && match) return { endpoint: 'retrieve', id: decodeURIComponent(match[1]!) };
  return undefined;
}

/** What OpenAI refuses in a batch input file, as {message, code}; undefined when it is fine. */
function checkBatchInput(content: string): { message: string; code: string } | undefined {
  const seen = new Set<string>();
  const lines = content.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const text = lines[index]!;
    if (text.trim() === '') continue;
    const where = `line ${index + 1}`;
    let line: Partial<FakeRequestLine>;
    try {
      line = JSON.parse(text);
    } catch {
      return { message: `${where} is not valid JSON`, code: 'invalid_json_line' };
    }
    if (typeof line.custom_id !== 'string' || line.custom_id === '')
      return { message: `${where} has no custom_id`, code: 'missing_custom_id' };
    if (seen.has(line.custom_id))
      return { message: `${where}: custom_id ${line.custom_id} is not unique`, code: 'duplicate_custom_id' };
    seen.add(line.custom_id);
    if (line.method !== 'POST') return { message: `${where}: method must be POST`, code: 'invalid_method' };
    if (line.url !== '/v1/embeddings')
      return { message: `${where}: url must be /v1/embeddings`, code: 'invalid_url' };
    if (typeof line.body?.model !== 'string' || line.body.input === undefined)
      return { message: `${where}: body needs model and input`, code: 'invalid_body' };
  }
  if (seen.size === 0) return { message: 'the batch input file has no requests', code: 'empty_file' };
  return undefined;
}

/** multipart/form-data by its boundary: field name → { filename (file parts only), data }. */
function parseMultipart(
  body: Buffer,
  contentType: string,
): Map<string, { filename: string | undefined; data: Buffer }> | undefined {
  const match = /^multipart\/form-data;.*\bboundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!match) return undefined;
  const delimiter = Buffer.from(`--${match[1] ?? match[2]}`);
  const parts = new Map<string, { filename: string | undefined; data: Buffer }>();
  let position = body.indexOf(delimiter);
  if (position === -1) return undefined;
  for (;;) {
    const afterDelimiter = position + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') return parts;
    const headersStart = afterDelimiter + 2; // CRLF
    const headersEnd = body.indexOf('\r\n\r\n', headersStart);
    if (headersEnd === -1) return undefined;
    const next = body.indexOf(delimiter, headersEnd + 4);
    if (next === -1) return undefined;
    const headers = body.subarray(headersStart, headersEnd).toString('utf8');
    const disposition = /content-disposition:\s*form-data\s*;([^\r\n]*)/i.exec(headers)?.[1] ?? '';
    const name = /\bname="([^"]*)"/.exec(disposition)?.[1];
    if (name === undefined) return undefined;
    // The part's data ends with the CRLF that precedes the next delimiter.
    parts.set(name, {
      filename: /\bfilename="([^"]*)"/.exec(disposition)?.[1],
      data: body.subarray(headersEnd + 4, next - 2),
    });
    position = next;
  }
}

function answerJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function answerError(
  response: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null,
): void {
  answerJson(response, status, { error: { message, type, code } });
}

function notFound(response: ServerResponse, kind: 'batch' | 'file', id: string): true {
  answerError(
    response,
    404,
    `No such ${kind === 'batch' ? 'Batch' : 'File'} object: ${id}`,
    'invalid_request_error',
    null,
  );
  return true;
}
