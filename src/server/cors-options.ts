import type { FastifyCorsOptions } from '@fastify/cors';
import type { ServerConfig } from '../config/config-schema.js';

type CorsConfig = NonNullable<ServerConfig['cors']>;

/** Request headers a browser may send us: credentials, our tenant header, tracing. */
const allowedHeaders = ['authorization', 'x-api-key', 'content-type', 'x-request-id', 'x-vectorsync-tenant'];
/** Response headers a browser script may read. */
const exposedHeaders = ['x-request-id', 'x-vectorsync-index', 'retry-after', 'location'];

/**
 * @fastify/cors options for `server.cors`. A request from an origin not listed gets no CORS
 * headers at all (its preflight is answered like any other unauthenticated request).
 */
export function corsOptions(config: CorsConfig): FastifyCorsOptions {
  const any = config.origins.includes('*');
  const origins = new Set(config.origins);
  return {
    origin: any ? '*' : (origin, callback) => callback(null, origin !== undefined && origins.has(origin)),
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders,
    exposedHeaders,
    credentials: config.credentials,
    maxAge: config.maxAgeSeconds,
  };
}
