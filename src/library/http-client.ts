/**
 * `vectorsync/client`: a typed client of the HTTP service (`vectorsync serve`, `vectorsync.serve()`
 * or the `vectorsync/fastify` plugin under a prefix). It uses the global `fetch` and imports no
 * other module of vectorsync at run time than its errors, so it runs wherever `fetch` does (Node
 * 20, browsers, edge runtimes) and pulls in neither the database driver nor Fastify.
 */
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { OutboxEventView } from '../outbox/outbox-admin.js';
import type { CollectionDescription } from '../server/routes/collection-routes.js';
import type {
  IndexStatus,
  ReconcileReport,
  SearchFusionOverrides,
  SearchMode,
  SearchResponse,
  SyncStatus,
} from './vectorsync-api.js';

/** Options of `createVectorsyncClient()`. */
export interface VectorsyncClientOptions {
  /**
   * The service's base URL, with the prefix the routes are mounted under if any:
   * `http://localhost:8787`, `https://app.example.com/search-api`.
   */
  url: string | URL;
  /**
   * An API key: bound to one tenant (documents, search), a service key (documents and search of
   * the tenant named by `tenant`) or an admin key (sync, reconcile, indexes; with `tenant`, also
   * documents and search).
   */
  apiKey?: string | undefined;
  /** The tenant documents and search calls act for (the `x-vectorsync-tenant` header); per call: `RequestOptions.tenant`. */
  tenant?: string | undefined;
  /** Per-request timeout in ms (default 30,000; 0: none). Ends with `TIMEOUT`. */
  timeoutMs?: number | undefined;
  /** Headers added to every request (tracing, a gateway's own auth). */
  headers?: Readonly<Record<string, string>>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Per-call options: every method takes them as its last argument. */
export interface RequestOptions {
  /** Aborts the request (it then fails with `ABORTED`). */
  signal?: AbortSignal | undefined;
  /** The tenant this call acts for, instead of the client's `tenant` (service and admin keys). */
  tenant?: string | undefined;
}

/** A search over the HTTP API: the tenant is the API key's (or the client's `tenant`), not part of the request. */
export interface ClientSearchRequest {
  collection: string;
  /** The query text (at most 4,096 characters). */
  query: string;
  /** Default `hybrid`. */
  mode?: SearchMode;
  /** Hits per page, 1 to 1,000 (default 10). */
  k?: number;
  /** Hits to skip; or pass `cursor` instead. */
  offset?: number;
  /** `next` of the previous page's response. */
  cursor?: string;
  /** A filter on the collection's payload fields (docs/search.md#filters). */
  filter?: Record<string, unknown> | string;
  explain?: boolean;
  fusion?: SearchFusionOverrides;
}

/** A row of a collection's source table, as the documents API returns it. */
export type SourceDocument = Record<string, unknown>;

/**
 * Whether a dual-write collection's index write succeeded before the answer (`applied`) or will
 * be repaired by the workers (`drift`); null in outbox and CDC mode, where capture does it.
 */
export type IndexWriteOutcome = 'applied' | 'drift' | null;

/** What a document write returns: the row as written, and the index outcome of a dual-write. */
export interface DocumentWriteResult {
  document: SourceDocument;
  index: IndexWriteOutcome;
}

/** `GET /v1/sync/events`: events newest first; `next` is the `before` of the next page. */
export interface SyncEventsPage {
  events: OutboxEvent[];
  next: string | null;
}

/** One outbox event (`origin`: trigger, backfill, cdc, reconcile or dual-write). */
export type OutboxEvent = OutboxEventView;

/** What `/readyz` says: ready, or each check's error. */
export interface ReadyStatus {
  ready: boolean;
  checks: Record<string, { ok: boolean; error?: string }>;
}

/** One index operation of `indexes.history()`. */
export type IndexOperationSummary = NonNullable<IndexStatus['last']> & {
  settings: Record<string, unknown>;
  criteria: Record<string, unknown>;
  result: Record<string, unknown> | null;
};

/** The service's HTTP API, typed. Errors are `VectorsyncHttpError`s with the service's code. */
export interface VectorsyncClient {
  /** The base URL requests go to. */
  readonly url: string;
  /** Tenant key: searches the key's tenant (`POST /v1/collections/:collection/search`). */
  search(request: ClientSearchRequest, options?: RequestOptions): Promise<SearchResponse>;
  /** The collections' fields, payload fields, sync mode and embedder (`GET /v1/collections`). */
  collections(options?: RequestOptions): Promise<CollectionDescription[]>;
  /** Tenant key: the source rows of the key's tenant (`/v1/collections/:collection/documents`). */
  readonly documents: {
    get(collection: string, id: string, options?: RequestOptions): Promise<SourceDocument>;
    /** The tenant column is set from the key. */
    create(
      collection: string,
      fields: SourceDocument,
      options?: RequestOptions,
    ): Promise<DocumentWriteResult>;
    /** Full update (PUT): omitted nullable columns without a default become null. */
    replace(
      collection: string,
      id: string,
      fields: SourceDocument,
      options?: RequestOptions,
    ): Promise<DocumentWriteResult>;
    /** Partial update (PATCH). */
    update(
      collection: string,
      id: string,
      fields: SourceDocument,
      options?: RequestOptions,
    ): Promise<DocumentWriteResult>;
    delete(collection: string, id: string, options?: RequestOptions): Promise<{ index: IndexWriteOutcome }>;
  };
  /** Admin key: queue depth, lag and failures; the outbox's events; retrying failed ones. */
  readonly sync: {
    status(options?: RequestOptions): Promise<SyncStatus>;
    events(
      query?: {
        status?: 'pending' | 'processing' | 'done' | 'failed';
        collection?: string;
        before?: string;
        limit?: number;
      },
      options?: RequestOptions,
    ): Promise<SyncEventsPage>;
    /** Failed events back to pending: these ids, one collection's, or (no argument) all. */
    retry(
      target?: { ids: string[] } | { collection: string },
      options?: RequestOptions,
    ): Promise<{ retried: string[] }>;
  };
  /** Admin key: reconciliation in the service's process. */
  readonly reconcile: {
    /** Runs (every collection, or one; optionally one tenant) and answers when the runs end. */
    run(
      request?: { collection?: string; tenant?: string; mode?: 'report' | 'dry-run' | 'fix' },
      options?: RequestOptions,
    ): Promise<ReconcileReport[]>;
    /** Aborts the service's runs (of one collection, or all); returns the collections aborted. */
    abort(collection?: string, options?: RequestOptions): Promise<string[]>;
    /** Runs in progress, and recorded reports newest first. */
    runs(
      query?: { collection?: string; limit?: number },
      options?: RequestOptions,
    ): Promise<{ running: string[]; runs: ReconcileReport[] }>;
  };
  /** Admin key: index operations as the service sees them (read-only). */
  readonly indexes: {
    status(collection: string, options?: RequestOptions): Promise<IndexStatus>;
    history(
      collection: string,
      query?: { limit?: number; before?: string },
      options?: RequestOptions,
    ): Promise<{ operations: IndexOperationSummary[]; next: string | null }>;
  };
  /** `GET /healthz` (no key): true when the process answers. */
  healthz(options?: RequestOptions): Promise<boolean>;
  /** `GET /readyz` (no key): a 503 is an answer here, not an error. */
  readyz(options?: RequestOptions): Promise<ReadyStatus>;
}

/**
 * An error answer of the service (`{ error: { code, message, details, requestId } }`), or no
 * answer: `SERVICE_UNREACHABLE` (no connection, or a gateway's 502/503/504), `TIMEOUT`, `ABORTED`.
 */
export class VectorsyncHttpError extends VectorsyncError {
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  /** The service's request id (in its logs), when it answered. */
  readonly requestId: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      status: number;
      requestId?: string;
      details?: Record<string, unknown>;
      cause?: unknown;
      transient?: boolean;
    },
  ) {
    super(code, message, {
      ...(options.details !== undefined ? { details: options.details } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
      transient: options.transient ?? false,
    });
    this.name = 'VectorsyncHttpError';
    this.status = options.status;
    this.requestId = options.requestId;
  }
}

/**
 * A client of a running vectorsync service.
 *
 * ```ts
 * const client = createVectorsyncClient({ url: 'http://localhost:8787', apiKey: process.env.VECTORSYNC_KEY });
 * const { hits } = await client.search({ collection: 'products', query: 'linen shirt' });
 * ```
 */
export function createVectorsyncClient(options: VectorsyncClientOptions): VectorsyncClient {
  const base = new URL(String(options.url));
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') {
    throw new VectorsyncError(ErrorCode.InvalidRequest, 'no fetch available: pass options.fetch');
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const path = (...segments: string[]) => segments.map((segment) => encodeURIComponent(segment)).join('/');

  interface Call {
    method?: string;
    query?: Record<string, string | number | boolean | undefined>;
    body?: unknown;
    options?: RequestOptions | undefined;
    /** Statuses answered with a body that is not an error (readyz's 503). */
    accept?: number[];
  }

  async function call<T>(
    route: string,
    { method = 'GET', query, body, options: callOptions, accept = [] }: Call,
  ) {
    const url = new URL(route, base);
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
    const tenant = callOptions?.tenant ?? options.tenant;
    if (tenant !== undefined) headers['x-vectorsync-tenant'] = tenant;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const signals = [callOptions?.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (signal): signal is AbortSignal => signal !== undefined,
    );
    const signal = signals.length > 1 ? anySignal(signals) : signals[0];
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      throw unreachable(error, method, url, callOptions?.signal);
    }
    const text = await response.text().catch((error: unknown) => {
      throw unreachable(error, method, url, callOptions?.signal);
    });
    const parsed = text === '' ? undefined : parseJson(text);
    if (response.ok || accept.includes(response.status)) {
      return { status: response.status, headers: response.headers, body: parsed as T };
    }
    throw errorOf(response.status, parsed, method, url);
  }

  const write = async (
    route: string,
    method: string,
    fields: SourceDocument,
    callOptions?: RequestOptions,
  ) => {
    const answer = await call<SourceDocument>(route, { method, body: fields, options: callOptions });
    return { document: answer.body, index: indexOutcome(answer.headers) };
  };

  return {
    url: base.toString(),

    async search(request, callOptions) {
      const { collection, query, fusion, ...rest } = request;
      const body: Record<string, unknown> = { q: query };
      for (const [key, value] of Object.entries(rest)) if (value !== undefined) body[key] = value;
      if (fusion?.fusion !== undefined) body.fusion = fusion.fusion;
      if (fusion?.normalization !== undefined) body.normalization = fusion.normalization;
      if (fusion?.rrfK !== undefined) body.rrf_k = fusion.rrfK;
      if (fusion?.weights !== undefined) {
        body.w_semantic = fusion.weights.semantic;
        body.w_keyword = fusion.weights.keyword;
      }
      return (
        await call<SearchResponse>(`v1/collections/${path(collection)}/search`, {
          method: 'POST',
          body,
          options: callOptions,
        })
      ).body;
    },

    async collections(callOptions) {
      return (
        await call<{ collections: CollectionDescription[] }>('v1/collections', { options: callOptions })
      ).body.collections;
    },

    documents: {
      async get(collection, id, callOptions) {
        return (
          await call<SourceDocument>(`v1/collections/${path(collection, 'documents', id)}`, {
            options: callOptions,
          })
        ).body;
      },
      create: (collection, fields, callOptions) =>
        write(`v1/collections/${path(collection, 'documents')}`, 'POST', fields, callOptions),
      replace: (collection, id, fields, callOptions) =>
        write(`v1/collections/${path(collection, 'documents', id)}`, 'PUT', fields, callOptions),
      update: (collection, id, fields, callOptions) =>
        write(`v1/collections/${path(collection, 'documents', id)}`, 'PATCH', fields, callOptions),
      async delete(collection, id, callOptions) {
        const answer = await call(`v1/collections/${path(collection, 'documents', id)}`, {
          method: 'DELETE',
          options: callOptions,
        });
        return { index: indexOutcome(answer.headers) };
      },
    },

    sync: {
      async status(callOptions) {
        return (await call<SyncStatus>('v1/sync/status', { options: callOptions })).body;
      },
      async events(query = {}, callOptions) {
        return (await call<SyncEventsPage>('v1/sync/events', { query, options: callOptions })).body;
      },
      async retry(target, callOptions) {
        return (
          await call<{ retried: string[] }>('v1/sync/events/retry', {
            method: 'POST',
            body: target ?? {},
            options: callOptions,
          })
        ).body;
      },
    },

    reconcile: {
      async run(request = {}, callOptions) {
        const { mode, ...query } = request;
        const answer = await call<{ reports: ReconcileReport[] }>('v1/sync/reconcile', {
          method: 'POST',
          query: {
            ...query,
            ...(mode === 'fix' ? { fix: true } : mode === 'dry-run' ? { dryRun: true } : {}),
          },
          options: callOptions,
        });
        return answer.body.reports;
      },
      async abort(collection, callOptions) {
        return (
          await call<{ aborted: string[] }>('v1/sync/reconcile', {
            method: 'DELETE',
            query: { collection },
            options: callOptions,
          })
        ).body.aborted;
      },
      async runs(query = {}, callOptions) {
        return (
          await call<{ running: string[]; runs: ReconcileReport[] }>('v1/sync/reconcile', {
            query,
            options: callOptions,
          })
        ).body;
      },
    },

    indexes: {
      async status(collection, callOptions) {
        return (await call<IndexStatus>(`v1/indexes/${path(collection)}/status`, { options: callOptions }))
          .body;
      },
      async history(collection, query = {}, callOptions) {
        return (
          await call<{ operations: IndexOperationSummary[]; next: string | null }>(
            `v1/indexes/${path(collection)}/history`,
            { query, options: callOptions },
          )
        ).body;
      },
    },

    async healthz(callOptions) {
      await call('healthz', { options: callOptions });
      return true;
    },

    async readyz(callOptions) {
      const answer = await call<{ status: string; checks: ReadyStatus['checks'] }>('readyz', {
        options: callOptions,
        accept: [503],
      });
      return { ready: answer.status === 200, checks: answer.body?.checks ?? {} };
    },
  };
}

function indexOutcome(headers: Headers): IndexWriteOutcome {
  const value = headers.get('x-vectorsync-index');
  return value === 'applied' || value === 'drift' ? value : null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** AbortSignal.any() is Node 20.3+; this keeps the client usable where it is missing. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (signals: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const controller = new AbortController();
  for (const signal of signals) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}

const describe = (method: string, url: URL) => `${method} ${url.origin}${url.pathname}`;

function unreachable(error: unknown, method: string, url: URL, callerSignal: AbortSignal | undefined) {
  const name = (error as { name?: string } | null)?.name;
  if (callerSignal?.aborted) {
    return new VectorsyncHttpError(ErrorCode.Aborted, `${describe(method, url)} was aborted`, {
      status: 0,
      cause: error,
    });
  }
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new VectorsyncHttpError(ErrorCode.Timeout, `${describe(method, url)} timed out`, {
      status: 0,
      cause: error,
      transient: true,
    });
  }
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return new VectorsyncHttpError(
    ErrorCode.ServiceUnreachable,
    `vectorsync service at ${url.origin} is unreachable (${reason}): ${describe(method, url)}`,
    { status: 0, cause: error, transient: true, details: { url: url.origin } },
  );
}

function errorOf(status: number, body: unknown, method: string, url: URL): VectorsyncHttpError {
  const error = (
    body as { error?: { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown } } | null
  )?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    return new VectorsyncHttpError(error.code as ErrorCode, error.message, {
      status,
      ...(typeof error.requestId === 'string' ? { requestId: error.requestId } : {}),
      ...(error.details && typeof error.details === 'object'
        ? { details: error.details as Record<string, unknown> }
        : {}),
      // 429: the same request succeeds once the window named by Retry-After (and details) ends.
      transient: status === 503 || status === 429,
    });
  }
  // Not the service's answer: a proxy or gateway in between, or something else on that port.
  const gateway = status === 502 || status === 503 || status === 504;
  return new VectorsyncHttpError(
    gateway ? ErrorCode.ServiceUnreachable : ErrorCode.Internal,
    `${describe(method, url)} answered ${status} without a vectorsync error body${
      typeof body === 'string' && body !== '' ? `: ${body.slice(0, 200)}` : ''
    }`,
    { status, transient: gateway },
  );
}
