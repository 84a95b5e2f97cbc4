import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CollectionDefinition } from '../../config/collection-definition.js';
import type { Logger } from '../../logger.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { type DocumentWrite, DocumentWriter, type WriteCapture } from '../../sync/document-writer.js';
import { DualWriter } from '../../sync/dual-writer.js';
import { requireTenant } from '../auth.js';
import { routeSchema } from '../schemas/common-schemas.js';
import {
  collectionParamsSchema,
  documentParamsSchema,
  documentSchema,
  noContentSchema,
} from '../schemas/document-schemas.js';

interface DocumentParams {
  collection: string;
  id: string;
}

/**
 * CRUD on a collection's source table, scoped to the caller's tenant. In outbox and CDC mode
 * capture does the rest; in dual-write mode the request also writes the index, and reports how
 * that went in the `x-vectorsync-index` header (`applied`, or `drift` when it will be repaired).
 */
export function registerDocumentRoutes(
  app: FastifyInstance,
  runtime: VectorsyncRuntime,
  logger: Logger,
): void {
  const writer = new DocumentWriter(runtime.db);
  const dualWriter = new DualWriter(runtime, logger);
  const definitionOf = (name: string) => runtime.collection(name).definition;
  /** Dual-write collections record an intent with the source write (nothing else to capture here). */
  const captureFor = (definition: CollectionDefinition): WriteCapture | undefined =>
    definition.config.sync.mode === 'dual-write' ? dualWriter.capture : undefined;
  const afterWrite = async (request: FastifyRequest, reply: FastifyReply, written: DocumentWrite) => {
    if (!written.change || written.captured === undefined) return;
    const result = await dualWriter.afterWrite(written.change, written.captured, String(request.id));
    reply.header('x-vectorsync-index', result.index);
  };

  const contract = (
    summary: string,
    fields: Omit<Parameters<typeof routeSchema>[0], 'key' | 'tag' | 'summary'>,
  ) => routeSchema({ key: 'tenant', tag: 'documents', summary, ...fields });

  app.post<{ Params: { collection: string } }>(
    '/v1/collections/:collection/documents',
    {
      schema: contract('Create a document (a row of the source table)', {
        params: collectionParamsSchema,
        body: documentSchema,
        response: { 201: documentSchema },
      }),
    },
    async (request, reply) => {
      const tenant = requireTenant(request);
      const definition = definitionOf(request.params.collection);
      const written = await writer.create(definition, tenant, request.body, captureFor(definition));
      const document = written.document;
      // The canonical id (a composite key's values joined by ","), as the row's own SQL gives it.
      const id = written.change!.sourceId;
      await afterWrite(request, reply, written);
      return reply
        .status(201)
        .header('location', `/v1/collections/${definition.name}/documents/${encodeURIComponent(id)}`)
        .send(document);
    },
  );

  app.get<{ Params: DocumentParams }>(
    '/v1/collections/:collection/documents/:id',
    {
      schema: contract('Read a document', {
        params: documentParamsSchema,
        response: { 200: documentSchema },
      }),
    },
    async (request) => {
      const tenant = requireTenant(request);
      return writer.get(definitionOf(request.params.collection), tenant, request.params.id);
    },
  );

  for (const [method, mode] of [
    ['PUT', 'replace'],
    ['PATCH', 'patch'],
  ] as const) {
    app.route<{ Params: DocumentParams }>({
      method,
      url: '/v1/collections/:collection/documents/:id',
      schema: contract(
        mode === 'replace'
          ? 'Replace a document (omitted columns take their defaults)'
          : 'Change some columns of a document',
        { params: documentParamsSchema, body: documentSchema, response: { 200: documentSchema } },
      ),
      handler: async (request, reply) => {
        const tenant = requireTenant(request);
        const definition = definitionOf(request.params.collection);
        const written = await writer.update(
          definition,
          tenant,
          request.params.id,
          request.body,
          mode,
          captureFor(definition),
        );
        await afterWrite(request, reply, written);
        return written.document;
      },
    });
  }

  app.delete<{ Params: DocumentParams }>(
    '/v1/collections/:collection/documents/:id',
    {
      schema: contract('Delete a document', {
        params: documentParamsSchema,
        response: { 204: noContentSchema },
      }),
    },
    async (request, reply) => {
      const tenant = requireTenant(request);
      const definition = definitionOf(request.params.collection);
      const deleted = await writer.delete(definition, tenant, request.params.id, captureFor(definition));
      await afterWrite(request, reply, deleted);
      return reply.status(204).send();
    },
  );
}
