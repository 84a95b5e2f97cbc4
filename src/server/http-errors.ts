import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isConnectionError } from '../db/connection-failure.js';
import { ErrorCode, isVectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
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
  [ErrorCode.EmbedderUnavailable]: 503,
  [ErrorCode.StoreUnavailable]: 503,
  [ErrorCode.SourceUnavailable]: 503,
  [ErrorCode.DocumentPoolUnavailable]: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown>; requestId: string };
}

/** Maps every error to `{ error: { code, message, details } }` with a fitting status. */
export function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger,
): FastifyReply {
  const requestId = String(request.id);
  error = validationError(error, request) ?? error;
  if (isVectorsyncError(error)) {
    const status = statusByCode[error.code] ?? 500;
    if (status >= 500) logger.error({ requestId, code: error.code, err: error.message }, 'request failed');
    return reply.status(status).send({
      error: { code: error.code, message: error.message, details: error.details, requestId },
    } satisfies ErrorBody);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code =
      fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? ErrorCode.PayloadTooLarge
        : fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? ErrorCode.InvalidRequest
          : ErrorCode.MalformedBody;
    const message =
      code === ErrorCode.PayloadTooLarge
        ? `request body is larger than the limit of ${request.routeOptions.bodyLimit ?? 'the server'} bytes`
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
