import type { FastifyInstance } from 'fastify';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { DocumentWriter } from '../../sync/document-writer.js';
import { requireTenant } from '../auth.js';

interface DocumentParams {
  collection: string;
  id: string;
}

/** CRUD on a collection's source table, scoped to the caller's tenant. */
export function registerDocumentRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  const writer = new DocumentWriter(runtime.db);
  const definitionOf = (name: string) => runtime.collection(name).definition;

  app.post<{ Params: { collection: string } }>(
    '/v1/collections/:collection/documents',
    async (request, reply) => {
      const tenant = requireTenant(request);
      const definition = definitionOf(request.params.collection);
      const document = await writer.create(definition, tenant, request.body);
      const id = String(document[definition.primaryKey.name]);
      return reply
        .status(201)
        .header('location', `/v1/collections/${definition.name}/documents/${encodeURIComponent(id)}`)
        .send(document);
    },
  );

  app.get<{ Params: DocumentParams }>('/v1/collections/:collection/documents/:id', async (request) => {
    const tenant = requireTenant(request);
    return writer.get(definitionOf(request.params.collection), tenant, request.params.id);
  });

  app.put<{ Params: DocumentParams }>('/v1/collections/:collection/documents/:id', async (request) => {
    const tenant = requireTenant(request);
    return writer.update(
      definitionOf(request.params.collection),
      tenant,
      request.params.id,
      request.body,
      'replace',
    );
  });

  app.patch<{ Params: DocumentParams }>('/v1/collections/:collection/documents/:id', async (request) => {
    const tenant = requireTenant(request);
    return writer.update(
      definitionOf(request.params.collection),
      tenant,
      request.params.id,
      request.body,
      'patch',
    );
  });

  app.delete<{ Params: DocumentParams }>(
    '/v1/collections/:collection/documents/:id',
    async (request, reply) => {
      const tenant = requireTenant(request);
      await writer.delete(definitionOf(request.params.collection), tenant, request.params.id);
      return reply.status(204).send();
    },
  );
}
