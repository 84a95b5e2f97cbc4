/**
 * Every error vectorsync raises on purpose is a VectorsyncError with a stable `code`.
 * Codes are part of the public contract (HTTP bodies, CLI output, outbox `last_error_code`),
 * so they never change meaning once released.
 */
export const ErrorCode = {
  ConfigInvalid: 'CONFIG_INVALID',
  ConfigNotFound: 'CONFIG_NOT_FOUND',
  UnknownCollection: 'UNKNOWN_COLLECTION',
  UnknownField: 'UNKNOWN_FIELD',
  MissingField: 'MISSING_FIELD',
  InvalidFieldValue: 'INVALID_FIELD_VALUE',
  InvalidRequest: 'INVALID_REQUEST',
  InvalidFilter: 'INVALID_FILTER',
  MalformedBody: 'MALFORMED_BODY',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  /** HTTP: the client did not send its whole request within server.requestTimeoutMs (408). */
  RequestTimeout: 'REQUEST_TIMEOUT',
  /** HTTP: the URL is longer than server.maxUrlLength (414). */
  UriTooLong: 'URI_TOO_LONG',
  /** HTTP: the request line and headers exceed server.maxHeaderBytes (431). */
  HeadersTooLarge: 'HEADERS_TOO_LARGE',
  /** HTTP: a request Node's parser could not read as HTTP (400). */
  MalformedRequest: 'MALFORMED_REQUEST',
  /** HTTP: the handler did not answer within server.handlerTimeoutMs (503); its work may still complete. */
  HandlerTimeout: 'HANDLER_TIMEOUT',
  /** A document id in a path that is not a canonical id of the collection (a composite key's parts). */
  InvalidDocumentId: 'INVALID_DOCUMENT_ID',
  DocumentNotFound: 'DOCUMENT_NOT_FOUND',
  DocumentExists: 'DOCUMENT_EXISTS',
  TenantRequired: 'TENANT_REQUIRED',
  TenantMismatch: 'TENANT_MISMATCH',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  /** Too many requests from one API key (or, without a valid key, one client address); retry after `Retry-After` seconds. */
  RateLimited: 'RATE_LIMITED',
  NotFound: 'NOT_FOUND',
  DimensionMismatch: 'DIMENSION_MISMATCH',
  EmbedderMismatch: 'EMBEDDER_MISMATCH',
  AnalyzerMismatch: 'ANALYZER_MISMATCH',
  EmbedderFailed: 'EMBEDDER_FAILED',
  EmbedderUnavailable: 'EMBEDDER_UNAVAILABLE',
  /** The provider is at its rate limit for longer than limits.maxWaitMs (transient: the collection pauses until then). */
  EmbedderRateLimited: 'EMBEDDER_RATE_LIMITED',
  /** An embedding budget of the collection (or tenant) is spent for its period (transient: the work waits). */
  EmbeddingBudgetExhausted: 'EMBEDDING_BUDGET_EXHAUSTED',
  /** A CLI run would spend more than costs.confirmAboveUsd and was not confirmed (--yes). */
  SpendNotConfirmed: 'SPEND_NOT_CONFIRMED',
  StoreFailed: 'STORE_FAILED',
  StoreUnavailable: 'STORE_UNAVAILABLE',
  BusUnavailable: 'BUS_UNAVAILABLE',
  SourceRowMissing: 'SOURCE_ROW_MISSING',
  SourceUnavailable: 'SOURCE_UNAVAILABLE',
  TemplateFieldMissing: 'TEMPLATE_FIELD_MISSING',
  /** Building or embedding one document took longer than sync.documentBudgetMs (not transient). */
  DocumentBudgetExceeded: 'DOCUMENT_BUDGET_EXCEEDED',
  /** The worker thread building or embedding one document died, e.g. at its memory limit (not transient). */
  DocumentWorkerDied: 'DOCUMENT_WORKER_DIED',
  /** A document's text needs more chunks than its collection's chunking.maxChunks (not transient). */
  ChunkLimitExceeded: 'CHUNK_LIMIT_EXCEEDED',
  /** The document worker threads cannot run at all (transient: the collection pauses and retries). */
  DocumentPoolUnavailable: 'DOCUMENT_POOL_UNAVAILABLE',
  MigrationAhead: 'MIGRATION_AHEAD',
  MigrationsPending: 'MIGRATIONS_PENDING',
  CaptureNotInstalled: 'CAPTURE_NOT_INSTALLED',
  IndexNotFound: 'INDEX_NOT_FOUND',
  EventNotFound: 'EVENT_NOT_FOUND',
  OptionalDependencyMissing: 'OPTIONAL_DEPENDENCY_MISSING',
  /** `vectorsync demo` was pointed at a database that already has tables (pass --force to use it anyway). */
  DemoDatabaseNotEmpty: 'DEMO_DATABASE_NOT_EMPTY',
  Aborted: 'ABORTED',
  ReconcileInProgress: 'RECONCILE_IN_PROGRESS',
  IndexOpsUnsupported: 'INDEX_OPS_UNSUPPORTED',
  IndexOperationRunning: 'INDEX_OPERATION_RUNNING',
  IndexOperationNotFound: 'INDEX_OPERATION_NOT_FOUND',
  InvalidIndexParams: 'INVALID_INDEX_PARAMS',
  BlockingBuildNeedsReason: 'BLOCKING_BUILD_NEEDS_REASON',
  IndexBuildAborted: 'INDEX_BUILD_ABORTED',
  IndexBuildFailed: 'INDEX_BUILD_FAILED',
  IndexVerificationFailed: 'INDEX_VERIFICATION_FAILED',
  IndexOperationInterrupted: 'INDEX_OPERATION_INTERRUPTED',
  Timeout: 'TIMEOUT',
  /** vectorsync/client: no answer from the service (connection refused, DNS, a gateway's 502/503/504). Transient. */
  ServiceUnreachable: 'SERVICE_UNREACHABLE',
  DualWriteTimeout: 'DUAL_WRITE_TIMEOUT',
  /** Workers (or CDC consumers) died processing this change sync.maxCrashes times; it is set aside. */
  WorkerLost: 'WORKER_LOST',
  MigrationNotVerified: 'MIGRATION_NOT_VERIFIED',
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The optional parts of a VectorsyncError. */
export interface VectorsyncErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
  /** True when retrying the same operation later can succeed without changing the input. */
  transient?: boolean;
}

/**
 * An error vectorsync raises on purpose: a stable `code` (one of `ErrorCode`), a message for
 * humans, `details` for programs, the `cause` it wraps, and whether it is `transient`.
 */
export class VectorsyncError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, options: VectorsyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VectorsyncError';
    this.code = code;
    this.details = options.details ?? {};
    this.transient = options.transient ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Narrows `value` to a VectorsyncError, optionally of one `code`. */
export function isVectorsyncError(value: unknown, code?: ErrorCode): value is VectorsyncError {
  return value instanceof VectorsyncError && (code === undefined || value.code === code);
}

/** Turns anything thrown into an Error exactly once, so callers can rely on `.message`. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

export function errorCodeOf(value: unknown): string {
  if (value instanceof VectorsyncError) return value.code;
  const code = (value as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : ErrorCode.Internal;
}
