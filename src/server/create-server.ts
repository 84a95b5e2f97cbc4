import fastifyCors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { withLogScope } from '../log-scope.js';
import type { Logger } from '../logger.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { authenticationHooks, keyRequirementOf, requireAdmin } from './auth.js';
import { corsOptions } from './cors-options.js';
import { registerHandlerTimeout } from './handler-timeout.js';
import { sendError } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';
import { setEnvelopeNotFoundHandler } from './not-found-handler.js';
import { registerDocsUi, registerOpenApi } from './openapi/api-docs.js';
import { registerOpenApiRoute } from './openapi/openapi-route.js';
import { requestIdOf } from './request-id.js';
import { registerRequestRateLimit } from './request-rate-limit.js';
import { registerRequestScope } from './request-scope.js';
import { registerCollectionRoutes } from './routes/collection-routes.js';
import { registerDocumentRoutes } from './routes/documents-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerIndexRoutes } from './routes/index-routes.js';
import { registerReconcileRoutes } from './routes/reconcile-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import { registerSyncRoutes } from './routes/sync-routes.js';
import { routeSchema } from './schemas/common-schemas.js';
import { serverOptions } from './server-options.js';

export interface CreateServerOptions {
  runtime: VectorsyncRuntime;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Reports whether the process's sync workers run (undefined: this process runs none). */
  workersRunning?: () => boolean | undefined;
  /** Runs and aborts this process's reconciliations (default: a new one). */
  reconciler?: Reconciler;
  /** Looks API keys up, with its cache (default: a new one with `server.apiKeyCacheMs`). */
  apiKeys?: ApiKeyAuthenticator;
}

/**
 * The HTTP service. Every /v1 request carries an API key; a tenant key decides the tenant, a
 * service or admin key names it per request (auth.ts). Errors are
 * `{ error: { code, message, details, requestId } }`. The server options (timeouts, limits,
 * request ids) are in server-options.ts.
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const app = Fastify(serverOptions(options.runtime.config.server, options.logger));
  // Not encapsulated here: the request scope, CORS and schemas also cover the 404 handler and
  // whatever an application adds to this instance (VectorsyncService.app).
  app.register(fastifyPlugin(serviceRoutes), options);
  setEnvelopeNotFoundHandler(app);
  // Requests that match no route still have their bodies parsed; a body refused there (invalid
  // JSON, too large, an unsupported type) gets the envelope too, not Fastify's own error.
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, options.logger));
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
  // CORS first, so that its preflight answer comes before authentication and its headers reach
  // error answers too; the request scope (x-request-id, log lines) covers every route below.
  const cors = options.runtime.config.server.cors;
  if (cors) await app.register(fastifyCors, corsOptions(cors));
  registerRequestScope(app);
  await registerOpenApi(app, options.runtime);
  await app.register(async (docs) => registerDocsUi(docs));
  await app.register(async (api) => registerApiRoutes(api, options));
}

/**
 * Routes that run a long operation to its end by design (a reconciliation run): no handler
 * timeout (abort them with DELETE /v1/sync/reconcile).
 */
const untimedRoutes = new Set(['POST /v1/sync/reconcile']);

function registerApiRoutes(app: FastifyInstance, options: CreateServerOptions): void {
  const { runtime, metrics } = options;
  const server = runtime.config.server;
  const logger = withLogScope(options.logger);
  const apiKeys =
    options.apiKeys ?? new ApiKeyAuthenticator(runtime.db, { cacheMs: runtime.config.server.apiKeyCacheMs });
  // The matched route's contract says whether it needs a key (not the raw path, which may
  // carry a trailing slash or a prefix).
  const isPublicRoute = (request: FastifyRequest) => keyRequirementOf(request) === 'none';

  // An application's own limits are not ours to change; these routes keep the configured ones.
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= server.bodyLimitBytes;
  });

  registerHandlerTimeout(app, server.handlerTimeoutMs, untimedRoutes);
  app.addHook('onRequest', async (request) => {
    if (request.url.length > server.maxUrlLength) {
      throw new VectorsyncError(
        ErrorCode.UriTooLong,
        `the URL is ${request.url.length} characters long, more than the limit of ${server.maxUrlLength} (server.maxUrlLength)`,
      );
    }
  });

  const authentication = authenticationHooks(apiKeys, isPublicRoute);
  app.addHook('onRequest', authentication.identify);
  // Health probes come from orchestrators and load balancers, often through one address, and
  // carry no key: a limit there would take instances out of rotation, not protect them.
  registerRequestRateLimit(app, runtime.config.server.rateLimit, isPublicRoute);
  app.addHook('preParsing', authentication.enforce);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics?.httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logger.info(
      {
        requestId: requestIdOf(request),
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        tenant: request.actingTenant?.tenant ?? request.principal?.tenant ?? undefined,
        tenantFromHeader: request.actingTenant?.fromHeader,
        key: request.principal?.name,
      },
      'request',
    );
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, logger));

  registerOpenApiRoute(app);
  registerHealthRoutes(app, runtime, options.workersRunning ?? (() => undefined), apiKeys);
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
