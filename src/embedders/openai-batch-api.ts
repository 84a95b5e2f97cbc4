import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';

export interface OpenAiBatchApiOptions {
  /** e.g. https://api.openai.com/v1 (trailing slashes are ignored). */
  baseUrl: string;
  /** Unset or empty: no Authorization header (a gateway that adds its own). */
  apiKey: string | undefined;
  /** Per request, file transfers included: give a 190 MB upload time to go through. */
  timeoutMs: number;
  logger?: Logger;
}

export type OpenAiBatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

const statuses: ReadonlySet<string> = new Set<OpenAiBatchStatus>([
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
]);

const endedStatuses: ReadonlySet<OpenAiBatchStatus> = new Set([
  'failed',
  'completed',
  'expired',
  'cancelled',
]);

/** True once the provider will not change the batch any more: its files are final. */
export function isBatchEnded(status: OpenAiBatchStatus): boolean {
  return endedStatuses.has(status);
}

/** The fields of OpenAI's Batch object the lane uses; `errors` is empty rather than null. */
export interface OpenAiBatch {
  id: string;
  status: OpenAiBatchStatus;
  input_file_id: string;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
  errors: { data: Array<{ code: string | null; message: string | null; line: number | null }> };
}

/**
 * The Files and Batches API of OpenAI (and of gateways that copy it), as far as embedding
 * batches need it. No retries here: the lane polls anyway, so a transient failure (429, 5xx,
 * network, timeout) is raised as a transient EMBEDDER_UNAVAILABLE and tried again at its next
 * pass; any other 4xx is a permanent EMBEDDER_FAILED carrying the provider's message.
 */
export class OpenAiBatchApi {
  private readonly baseUrl: string;
  private readonly logger: Logger;

  constructor(private readonly options: OpenAiBatchApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.logger = options.logger ?? silentLogger;
  }

  /** POST /files (multipart: purpose=batch, file). */
  async uploadBatchFile(jsonl: string, filename: string): Promise<{ id: string; bytes: number }> {
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([jsonl], { type: 'application/jsonl' }), filename);
    const file = asObject(await this.requestJson('POST', '/files', form), '/files');
    if (typeof file.id !== 'string') throw this.malformed('/files', 'no file id');
    return { id: file.id, bytes: typeof file.bytes === 'number' ? file.bytes : Buffer.byteLength(jsonl) };
  }

  /** POST /batches: runs the uploaded file's requests against /v1/embeddings within 24 hours. */
  async createBatch(inputFileId: string, metadata: Record<string, string>): Promise<OpenAiBatch> {
    const body = JSON.stringify({
      input_file_id: inputFileId,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
      metadata,
    });
    return this.toBatch(await this.requestJson('POST', '/batches', body), '/batches');
  }

  async retrieveBatch(id: string): Promise<OpenAiBatch> {
    const path = `/batches/${encodeURIComponent(id)}`;
    return this.toBatch(await this.requestJson('GET', path), path);
  }

  /** GET /files/{id}/content: the JSONL of an output or error file. */
  async fileContent(id: string): Promise<string> {
    return this.request('GET', `/files/${encodeURIComponent(id)}/content`);
  }

  async cancelBatch(id: string): Promise<OpenAiBatch> {
    const path = `/batches/${encodeURIComponent(id)}/cancel`;
    return this.toBatch(await this.requestJson('POST', path), path);
  }

  private async requestJson(
    method: 'GET' | 'POST',
    path: string,
    body?: string | FormData,
  ): Promise<unknown> {
    const text = await this.request(method, path, body);
    try {
      return JSON.parse(text);
    } catch {
      throw this.malformed(path, 'not JSON');
    }
  }

  private async request(method: 'GET' | 'POST', path: string, body?: string | FormData): Promise<string> {
    const headers: Record<string, string> = {};
    // FormData sets its own content-type with the multipart boundary.
    if (typeof body === 'string') headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const where = `${method} ${this.baseUrl}${path}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const reason =
        (error as Error).name === 'TimeoutError'
          ? `timed out after ${this.options.timeoutMs} ms`
          : (error as Error).message;
      throw new VectorsyncError(
        ErrorCode.EmbedderUnavailable,
        `batch API request ${where} failed: ${reason}`,
        {
          transient: true,
          cause: error,
          details: { endpoint: path },
        },
      );
    }
    this.logger.debug({ method, path, status: response.status }, 'batch API request');
    if (response.ok) return text;
    const message = this.redact(providerMessage(text) ?? response.statusText);
    if (response.status === 429 || response.status >= 500) {
      throw new VectorsyncError(
        ErrorCode.EmbedderUnavailable,
        `batch API ${where} is unavailable: HTTP ${response.status}: ${message}`,
        { transient: true, details: { status: response.status, endpoint: path } },
      );
    }
    throw new VectorsyncError(
      ErrorCode.EmbedderFailed,
      `batch API ${where} rejected the request: HTTP ${response.status}: ${message}`,
      { details: { status: response.status, endpoint: path } },
    );
  }

  /** A provider may quote what it was sent; the key never goes into an error message or log. */
  private redact(message: string): string {
    const key = this.options.apiKey;
    return key ? message.split(key).join('[redacted]') : message;
  }

  private toBatch(json: unknown, path: string): OpenAiBatch {
    const raw = asObject(json, path);
    if (typeof raw.id !== 'string') throw this.malformed(path, 'no batch id');
    if (typeof raw.status !== 'string' || !statuses.has(raw.status))
      throw this.malformed(path, `unknown batch status ${JSON.stringify(raw.status)}`);
    const counts = (raw.request_counts ?? {}) as Record<string, unknown>;
    const errors = ((raw.errors as { data?: unknown } | null)?.data ?? []) as Array<Record<string, unknown>>;
    return {
      id: raw.id,
      status: raw.status as OpenAiBatchStatus,
      input_file_id: typeof raw.input_file_id === 'string' ? raw.input_file_id : '',
      output_file_id: typeof raw.output_file_id === 'string' ? raw.output_file_id : null,
      error_file_id: typeof raw.error_file_id === 'string' ? raw.error_file_id : null,
      request_counts: {
        total: countOf(counts.total),
        completed: countOf(counts.completed),
        failed: countOf(counts.failed),
      },
      errors: {
        data: (Array.isArray(errors) ? errors : []).map((error) => ({
          code: typeof error.code === 'string' ? error.code : null,
          message: typeof error.message === 'string' ? this.redact(error.message) : null,
          line: typeof error.line === 'number' ? error.line : null,
        })),
      },
    };
  }

  private malformed(path: string, problem: string): VectorsyncError {
    return new VectorsyncError(
      ErrorCode.EmbedderFailed,
      `batch API ${this.baseUrl}${path} answered something that is not the documented format: ${problem}`,
      { details: { endpoint: path } },
    );
  }
}

function asObject(json: unknown, path: string): Record<string, unknown> {
  if (json !== null && typeof json === 'object' && !Array.isArray(json))
    return json as Record<string, unknown>;
  throw new VectorsyncError(ErrorCode.EmbedderFailed, `batch API ${path} answered a non-object`, {
    details: { endpoint: path },
  });
}

function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** OpenAI's `{error: {message}}`, or the start of whatever else came back. */
function providerMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
    const message = parsed.error?.message ?? parsed.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return body.slice(0, 300) || undefined;
  }
}
