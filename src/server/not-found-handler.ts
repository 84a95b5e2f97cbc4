import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '../errors.js';
import type { ErrorBody } from './http-errors.js';

/**
 * Answers requests that match no route with the envelope (404 NOT_FOUND). Fastify keeps one
 * not-found handler per prefix: the standalone server sets it at its root; the plugin sets it
 * only when registered under a prefix, so an application's own 404s stay its own.
 */
export function setEnvelopeNotFoundHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: ErrorCode.NotFound,
        message: `no route ${request.method} ${request.url.split('?')[0]}`,
        details: {},
        requestId: String(request.id),
      },
    } satisfies ErrorBody),
  );
}
