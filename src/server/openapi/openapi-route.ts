import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { routeSchema } from '../schemas/common-schemas.js';

/** GET /openapi.json: the OpenAPI 3.1 document of these routes, as the running service sees them. */
export function registerOpenApiRoute(app: FastifyInstance): void {
  app.get(
    '/openapi.json',
    {
      schema: routeSchema({
        key: 'none',
        tag: 'meta',
        summary: 'This OpenAPI 3.1 document',
        response: { 200: z.looseObject({ openapi: z.string() }) },
      }),
    },
    async () => app.swagger(),
  );
}
