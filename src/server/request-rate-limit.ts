import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { ServerConfig } from '../config/config-schema.js';
import { ErrorCode, VectorsyncError } from '../errors.js';

/**
 * Limits requests per API key (requests without a valid key: per client address) with
 * @fastify/rate-limit, in fixed windows counted in this process. Over the limit a request gets
 * 429 RATE_LIMITED with `Retry-After`; below it, `x-ratelimit-limit`, `-remaining` and `-reset`.
 *
 * It is an onRequest hook of `app`'s own context (mounted as a plugin, only our routes are
 * limited), and runs after the key is identified: Fastify queues hooks and plugins in the order
 * they are registered, and `identify` is registered first. A refused key is answered later
 * (preParsing), so refusals are counted too. Requests for which `isExempt` holds are not counted.
 */
export function registerRequestRateLimit(
  app: FastifyInstance,
  settings: ServerConfig['rateLimit'],
  isExempt: (request: FastifyRequest) => boolean,
): void {
  if (settings === false) return;
  const { max, windowMs } = settings;
  // global: false, so that the plugin adds no hooks of its own; ours is added below, once the
  // plugin has decorated the instance with `rateLimit`.
  app.register(fastifyRateLimit, { global: false });
  app.register(
    fastifyPlugin(async (scope: FastifyInstance) => {
      scope.addHook(
        'onRequest',
        scope.rateLimit({
          max,
          timeWindow: windowMs,
          keyGenerator: (request) =>
            request.principal ? `key:${request.principal.keyId}` : `ip:${request.ip}`,
          allowList: (request) => isExempt(request),
          errorResponseBuilder: (request, context) => {
            const who = request.principal ? `API key "${request.principal.name}"` : `client ${request.ip}`;
            return new VectorsyncError(
              ErrorCode.RateLimited,
              `${who} sent more than ${max} requests in ${windowMs} ms; retry in ${context.after}`,
              {
                details: { limit: max, windowMs, retryAfterSeconds: Math.ceil(context.ttl / 1000) },
                transient: true,
              },
            );
          },
        }),
      );
    }),
  );
}
