import Fastify, { type FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { authenticateApiKey, touchApiKey } from './api-keys.js';
import { keyRequirementOf, presentedKey, requireAdmin } from './auth.js';
import { sendError } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';
import { registerDocsUi, registerOpenApi } from './openapi/api-docs.js';
import { registerOpenApiRoute } from './openapi/openapi-route.js';
import { registerCollectionRoutes } from './routes/collection-routes.js';
import { registerDocumentRoutes } from './routes/documents-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerIndexRoutes } from './routes/index-routes.js';
import { registerReconcileRoutes } from './routes/reconcile-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import { registerSyncRoutes } from './routes/sync-routes.js';
import { routeSchema } from './schemas/common-schemas.js';

export interface CreateServerOptions {
  runtime: VectorsyncRuntime;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Reports whether the process's sync workers run (undefined: this process runs none). */
  workersRunning?: () => boolean | undefined;
  /** Runs and aborts this process's reconciliations (default: a new one). */
  reconciler?: Reconciler;
}

/**
 * The HTTP service. Every /v1 request carries an API key; the key decides the tenant, so a
 * request can never name another tenant. Errors are `{ error: { code, message, details } }`.
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.runtime.config.server.bodyLimitBytes,
    logger: false,
    genReqId: () => crypto.randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.register(serviceRoutes, options);
  // Requests that match no route still have their bodies parsed; a body refused there (invalid
  // JSON, too large, an unsupported type) gets the envelope too, not Fastify's own error.
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, options.logger));
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url.split('?')[0]}`,
        details: {},
        requestId: String(request.id),
      },
    }),
  );
  return app;
}

/**
 * The service's routes with their API-key authentication, request logging, metrics, error
 * mapping, schemas and OpenAPI document, as an encapsulated plugin: of the service's own
 * instance, or of an application's Fastify (then all of it applies to these routes only,
 * under the prefix it is registered with).
 */
export async function serviceRoutes(app: FastifyInstance, options: CreateServerOptions): Promise<void> {
  // Requests are checked against the zod schemas; answers are sent as they are (the HTTP
  // contract tests check them against the same schemas, so a drift fails a test, not a request).
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await registerOpenApi(app, options.runtime);
  await app.register(async (docs) => registerDocsUi(docs));
  await app.register(async (api) => registerApiRoutes(api, options));
}

function registerApiRoutes(app: FastifyInstance, options: CreateServerOptions): void {
  const { runtime, logger, metrics } = options;
  const lastTouched = new Map<number, number>();

  // An application's own bodyLimit is not ours to change; these routes keep the configured one.
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= runtime.config.server.bodyLimitBytes;
  });

  app.addHook('onRequest', async (request) => {
    // The matched route's contract says whether it needs a key (not the raw path, which may
    // carry a trailing slash or a prefix).
    if (keyRequirementOf(request) === 'none') return;
    request.principal = await authenticateApiKey(runtime.db, presentedKey(request));
    // last_used_at is for humans auditing keys: once a minute per key is plenty.
    const now = Date.now();
    if ((lastTouched.get(request.principal.keyId) ?? 0) < now - 60_000) {
      lastTouched.set(request.principal.keyId, now);
      void touchApiKey(runtime.db, request.principal.keyId).catch(() => undefined);
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics?.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logger.info(
      {
        requestId: request.id,
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        tenant: request.principal?.tenant ?? undefined,
        key: request.principal?.name,
      },
      'request',
    );
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, logger));

  registerOpenApiRoute(app);
  registerHealthRoutes(app, runtime, options.workersRunning ?? (() => undefined));
  registerCollectionRoutes(app, runtime);
  registerDocumentRoutes(app, runtime, logger);
  registerSearchRoutes(app, runtime);
  registerSyncRoutes(app, runtime);
  registerReconcileRoutes(app, runtime, options.reconciler ?? new Reconciler(runtime));
  registerIndexRoutes(app, runtime);
  if (metrics) {
    app.get(
      '/metrics',
      {
        schema: routeSchema({
          key: 'admin',
          tag: 'meta',
          summary: 'Prometheus metrics (text exposition format)',
          response: {
            200: {
              description: 'The Prometheus text exposition format',
              content: { 'text/plain; version=0.0.4': { schema: z.string() } },
            },
          },
        }),
      },
      async (request, reply) => {
        requireAdmin(request);
        return reply
          .header('content-type', metrics.registry.contentType)
          .send(await metrics.registry.metrics());
      },
    );
  }
}
