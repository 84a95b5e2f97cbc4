import type { FastifyInstance } from 'fastify';
import { runInLogScope } from '../log-scope.js';
import { requestIdHeader, requestIdOf } from './request-id.js';

/**
 * Every answer carries `x-request-id`, and every log line written while a request is handled
 * carries its `requestId`: the later hooks and the handler run inside the scope entered here
 * (Fastify carries the async context across body parsing).
 */
export function registerRequestScope(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    runInLogScope({ requestId: requestIdOf(request) }, done);
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header(requestIdHeader, requestIdOf(request));
  });
}
