import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { packageVersion } from '../../package-version.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { addCollectionSchemas } from './collection-schemas.js';

export const docsRoutePrefix = '/docs';

/**
 * Collects the routes registered after it in `app` (and its children) into an OpenAPI 3.1
 * document, with each collection's document schema read from its live table.
 */
export async function registerOpenApi(app: FastifyInstance, runtime: VectorsyncRuntime): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vectorsync',
        version: packageVersion(),
        description:
          'Search over Postgres kept in sync: documents, hybrid search, sync status, reconciliation and index operations. ' +
          'Data endpoints act for the tenant of the API key (or the one an admin or service key names in x-vectorsync-tenant); ' +
          'operational endpoints need an admin key. Every error is {error:{code,message,details,requestId}}.',
      },
      components: {
        securitySchemes: {
          bearerKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer vs_…' },
          headerKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        },
      },
    },
    transform: createJsonSchemaTransform({ skipList: [] }),
    transformObject: (input) =>
      addCollectionSchemas(
        jsonSchemaTransformObject(input) as unknown as Parameters<typeof addCollectionSchemas>[0],
        runtime,
      ) as never,
  });
}

/** The interactive reference (Swagger UI) of the document, at /docs. */
export async function registerDocsUi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwaggerUi, { routePrefix: docsRoutePrefix });
}
