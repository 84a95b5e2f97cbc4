import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import type { ServiceMetrics } from './metrics.js';
import { requestIdOf } from './request-id.js';
import { registerRequestScope } from './request-scope.js';
import { serverOptions } from './server-options.js';

/**
 * The listener of `server.metricsPort`: `GET /metrics` and nothing else, without an API key, so
 * Prometheus can scrape a port that is reachable only from inside the network. (The main port's
 * `/metrics` keeps needing an admin key.)
 */
export function createMetricsServer(
  metrics: ServiceMetrics,
  config: ServerConfig,
  logger: Logger,
): FastifyInstance {
  const app = Fastify(serverOptions(config, logger));
  registerRequestScope(app);
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url.split('?')[0]} on the metrics port (only GET /metrics)`,
        details: {},
        requestId: requestIdOf(request),
      },
    }),
  );
  return app;
}
