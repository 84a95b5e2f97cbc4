import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isConnectionError } from '../db/connection-failure.js';
import { ErrorCode, isVectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { handlerTimeoutError } from './handler-timeout.js';
import { requestIdHeader, requestIdOf } from './request-id.js';

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
  [ErrorCode.UriTooLong]: 414,
  [ErrorCode.HandlerTimeout]: 503,
  [ErrorCode.EmbedderUnavailable]: 503,
  [ErrorCode.StoreUnavailable]: 503,
  [ErrorCode.SourceUnavailable]: 503,
  [ErrorCode.DocumentPoolUnavailable]: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown>; requestId: string };
}

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
  if (isVectorsyncError(error)) {
    const status = statusByCode[error.code] ?? 500;
    if (status >= 500) logger.error({ requestId, code: error.code, err: error.message }, 'request failed');
    return reply.status(status).send({
      error: { code: error.code, message: error.message, details: error.details, requestId },
    } satisfies ErrorBody);
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
  if (isConnectionError(error)) {
    // The database is restarting or unreachable: a retryable condition, not a bug. Its text
    // (host, port) stays in the log.
    logger.warn({ requestId, err: (error as Error).message }, 'database unreachable');
    return reply.status(503).send({
      error: {
        code: ErrorCode.SourceUnavailable,
        message: 'the database is unreachable; retry later',
        details: {},
        requestId,
      },
    } satisfies ErrorBody);
  }
  logger.error(
    { requestId, err: (error as Error).message, stack: (error as Error).stack },
    'unhandled error',
  );
  return reply.status(500).send({
    error: {
      code: ErrorCode.Internal,
      message: 'internal error; see the server log for request ' + requestId,
      details: {},
      requestId,
    },
  });
}

/** Fastify's `frameworkErrors` (errors before routing, e.g. a malformed or too long URL), in our envelope. */
export function frameworkErrorHandler(logger: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    sendError(error, request, reply, logger);
  };
}
