import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors.js';
import type { ErrorBody } from './http-errors.js';
import { requestIdHeader, requestIdOf } from './request-id.js';

/**
 * Fastify's `frameworkErrors` option: the errors its router raises before any route, hook or
 * error handler runs (a URL whose %-escapes do not decode, an over-long path parameter), in
 * the service's envelope instead of Fastify's own body. Only a server's options can set it, so
 * the standalone service uses it; an application that mounts `vectorsyncPlugin` may pass it to
 * its own `Fastify({ frameworkErrors })`.
 */
export function vectorsyncFrameworkErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const path = shorten(request.raw.url ?? '');
  const { status, code, message } =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? {
          status: 414,
          code: ErrorCode.UriTooLong,
          message: `a path segment of "${path}" is longer than the router accepts`,
        }
      : error.code === 'FST_ERR_BAD_URL'
        ? {
            status: 400,
            code: ErrorCode.InvalidRequest,
            message: `the URL "${path}" is not valid: a %-escape in its path does not decode to UTF-8`,
          }
        : {
            status: 400,
            code: ErrorCode.InvalidRequest,
            message: `the request cannot be routed: ${error.message}`,
          };
  // Answered before any hook of ours runs: the request id header is set here.
  const requestId = requestIdOf(request);
  void reply
    .status(status)
    .header(requestIdHeader, requestId)
    .send({ error: { code, message, details: { url: path }, requestId } } satisfies ErrorBody);
}

function shorten(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
