import type { Server } from 'node:http';
import type { FastifyHttpOptions } from 'fastify';
import type { ServerConfig } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import { clientErrorHandler } from './client-error-handler.js';
import { vectorsyncFrameworkErrors } from './framework-errors.js';
import { requestIdFor } from './request-id.js';

/**
 * The options of our own (standalone) Fastify server: request ids, timeouts and limits. An
 * application that registers the `vectorsync/fastify` plugin keeps its own server options.
 */
export function serverOptions(config: ServerConfig, logger: Logger): FastifyHttpOptions<Server> {
  return {
    bodyLimit: config.bodyLimitBytes,
    logger: false,
    genReqId: requestIdFor,
    routerOptions: {
      ignoreTrailingSlash: true,
      // A long path parameter is judged by the URL limit (414), not answered 404.
      maxParamLength: config.maxUrlLength,
    },
    connectionTimeout: config.connectionTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    ...(config.maxRequestsPerSocket > 0 ? { maxRequestsPerSocket: config.maxRequestsPerSocket } : {}),
    http: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      maxHeaderSize: config.maxHeaderBytes,
      // Node checks the two timeouts above this often (30 s by default, which would let a
      // 10 s limit run to 40 s).
      connectionsCheckingInterval: checkingIntervalMs(config),
    },
    clientErrorHandler: clientErrorHandler(config, logger),
    frameworkErrors: vectorsyncFrameworkErrors,
  };
}

function checkingIntervalMs(config: ServerConfig): number {
  const shortest = Math.min(
    config.headersTimeoutMs,
    config.requestTimeoutMs > 0 ? config.requestTimeoutMs : Number.POSITIVE_INFINITY,
  );
  return Math.max(10, Math.min(1000, Math.floor(shortest / 10)));
}
