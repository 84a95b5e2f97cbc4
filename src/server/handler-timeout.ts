import type { FastifyInstance } from 'fastify';
import { ErrorCode, VectorsyncError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's handler timeout in ms (0: none); set for every route of ours. */
    handlerTimeoutMs?: number;
  }
}

/** The answer to a request whose handler is slower than the limit. */
export function handlerTimeoutError(limitMs: number): VectorsyncError {
  return new VectorsyncError(
    ErrorCode.HandlerTimeout,
    // The handler is not stopped: a write it started commits or rolls back as a whole.
    `the request took longer than ${limitMs} ms (server.handlerTimeoutMs); it may still complete: read the result back before retrying a write`,
    { details: { limitMs }, transient: true },
  );
}

/**
 * Answers 503 HANDLER_TIMEOUT when a route of ours has not answered `limitMs` after the request's
 * headers arrived. The handler goes on: cutting a write off half-way could lose it, while
 * letting it finish leaves the source either fully written (and captured) or untouched.
 *
 * Fastify 5.12's own `handlerTimeout` is cleared when a request's body has been read (the
 * request's 'close' event), so it does not cover the handlers that write.
 */
export function registerHandlerTimeout(
  app: FastifyInstance,
  limitMs: number,
  untimedRoutes: ReadonlySet<string>,
): void {
  app.addHook('onRoute', (route) => {
    const timed = limitMs > 0 && !untimedRoutes.has(`${route.method} ${route.routePath}`);
    route.config = { ...route.config, handlerTimeoutMs: timed ? limitMs : 0 };
  });
  const timers = new WeakMap<object, NodeJS.Timeout>();
  app.addHook('onRequest', async (request, reply) => {
    const limit = request.routeOptions.config.handlerTimeoutMs ?? 0;
    if (limit <= 0) return;
    const timer = setTimeout(() => {
      if (!reply.sent && !reply.raw.headersSent) reply.send(handlerTimeoutError(limit));
    }, limit);
    timer.unref();
    timers.set(request, timer);
  });
  const clear = async (request: object) => clearTimeout(timers.get(request));
  app.addHook('onResponse', clear);
  app.addHook('onRequestAbort', clear);
}
