import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isConnectionError } from '../db/connection-failure.js';
import { ErrorCode, isVectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { handlerTimeoutError } from './handler-timeout.js';
import { requestIdHeader, requestIdOf } from './request-id.js';
import { validationError } from './validation-error.js';

const statusByCode: Record<string, number> = {
  [ErrorCode.InvalidRequest]: 400,
  [ErrorCode.InvalidFilter]: 400,
  [ErrorCode.MalformedBody]: 400,
  [ErrorCode.UnknownField]: 400,
  [ErrorCode.MissingField]: 400,
  [ErrorCode.InvalidFieldValue]: 400,
  [ErrorCode.InvalidDocumentId]: 400,
  [ErrorCode.TenantRequired]: 400,
  [ErrorCode.DimensionMismatch]: 400,
  [ErrorCode.InvalidIndexParams]: 400,
  [ErrorCode.BlockingBuildNeedsReason]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.TenantMismatch]: 403,
  [ErrorCode.UnknownCollection]: 404,
  [ErrorCode.DocumentNotFound]: 404,
  [ErrorCode.EventNotFound]: 404,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.DocumentExists]: 409,
  [ErrorCode.EmbedderMismatch]: 409,
  [ErrorCode.AnalyzerMismatch]: 409,
  [ErrorCode.IndexNotFound]: 409,
  [ErrorCode.ReconcileInProgress]: 409,
  [ErrorCode.IndexOperationRunning]: 409,
  [ErrorCode.IndexOpsUnsupported]: 409,
  [ErrorCode.IndexOperationNotFound]: 404,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.UriTooLong]: 414,
  [ErrorCode.HandlerTimeout]: 503,
  [ErrorCode.EmbedderUnavailable]: 503,
  [ErrorCode.EmbedderRateLimited]: 503,
  [ErrorCode.StoreUnavailable]: 503,
  [ErrorCode.SourceUnavailable]: 503,
  [ErrorCode.DocumentPoolUnavailable]: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown>; requestId: string };
}

/** Seconds a client should wait before retrying a 503 (the database or a store is restarting). */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Maps every error to `{ error: { code, message, details } }` with a fitting status. Only our
 * own sentences reach the client: a 5xx never carries a driver's or the database's text (it
 * stays in the log, under the request id).
 */
/** Fastify's own 4xx/5xx errors that get a code of their own (other 4xx: MALFORMED_BODY). */
const codeByFastifyCode: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.PayloadTooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.InvalidRequest,
  FST_ERR_BAD_URL: ErrorCode.InvalidRequest,
  FST_ERR_MAX_PARAM_LENGTH: ErrorCode.UriTooLong,
};

/** Maps every error to `{ error: { code, message, details, requestId } }` with a fitting status. */
export function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger,
): FastifyReply {
  const requestId = requestIdOf(request);
  // Set here too: framework errors (a bad URL) are answered before any hook of ours runs.
  reply.header(requestIdHeader, requestId);
  error = validationError(error, request) ?? error;
  if (
    isVectorsyncError(error) &&
    (error.code === ErrorCode.SourceUnavailable ||
      ((statusByCode[error.code] ?? 500) === 500 && isConnectionError(error.cause)))
  ) {
    // Also a wrapped failure (a store or reader error) whose cause is a lost connection.
    return sendSourceUnavailable(error, requestId, reply, logger);
  }
  if (isVectorsyncError(error)) {
    const status = statusByCode[error.code] ?? 500;
    if (status >= 500) logger.error({ requestId, code: error.code, err: error.message }, 'request failed');
    if (status >= 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    // An unmapped code is a failure inside the server, whose message may quote a driver.
    const body =
      status === 500
        ? { code: error.code, message: internalMessage(requestId), details: {}, requestId }
        : { code: error.code, message: error.message, details: error.details, requestId };
    return reply.status(status).send({ error: body } satisfies ErrorBody);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.code === 'FST_ERR_HANDLER_TIMEOUT') {
    // Fastify's own handlerTimeout (an application's, in plugin mode): the same answer as ours.
    return sendError(handlerTimeoutError(request.routeOptions.handlerTimeout ?? 0), request, reply, logger);
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code = codeByFastifyCode[fastifyError.code] ?? ErrorCode.MalformedBody;
    const message =
      code === ErrorCode.PayloadTooLarge
        ? `request body is larger than the limit of ${request.routeOptions.bodyLimit ?? 'the server'} bytes`
        : code === ErrorCode.UriTooLong
          ? 'a path segment of the URL is longer than the limit (server.maxUrlLength)'
          : fastifyError.message;
    return reply
      .status(fastifyError.statusCode)
      .send({ error: { code, message, details: {}, requestId } } satisfies ErrorBody);
  }
  if (isConnectionError(error)) return sendSourceUnavailable(error, requestId, reply, logger);
  logger.error(
    { requestId, err: (error as Error).message, stack: (error as Error).stack },
    'unhandled error',
  );
  return reply.status(500).send({
    error: { code: ErrorCode.Internal, message: internalMessage(requestId), details: {}, requestId },
  } satisfies ErrorBody);
}

function internalMessage(requestId: string): string {
  return `internal error; see the server log for request ${requestId}`;
}

/**
 * The database is restarting or unreachable: a retryable condition, not a bug. Its text (host,
 * port, user) stays in the log; the client gets a fixed sentence and when to retry.
 */
function sendSourceUnavailable(
  error: unknown,
  requestId: string,
  reply: FastifyReply,
  logger: Logger,
): FastifyReply {
  const cause = (error as { cause?: unknown }).cause;
  logger.warn(
    { requestId, err: (error as Error).message, cause: cause instanceof Error ? cause.message : undefined },
    'database unreachable',
  );
  return reply
    .status(503)
    .header('retry-after', String(RETRY_AFTER_SECONDS))
    .send({
      error: {
        code: ErrorCode.SourceUnavailable,
        message: 'the database is unreachable; retry later',
        details: {},
        requestId,
      },
    } satisfies ErrorBody);
}
