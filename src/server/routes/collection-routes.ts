import type { FastifyInstance } from 'fastify';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { routeSchema } from '../schemas/common-schemas.js';
import { collectionsResponseSchema } from '../schemas/ops-schemas.js';

/** One collection as `GET /v1/collections` describes it: what a client may write and filter on. */
export interface CollectionDescription {
  name: string;
  primaryKey: string | string[];
  tenantField: string;
  versionField: string;
  /** The source table's columns; `required`: NOT NULL without a default. */
  fields: Array<{ name: string; type: string; required: boolean }>;
  /** The fields a search filter may name. */
  payloadFields: Array<{ name: string; type: string }>;
  syncMode: string;
  embedder: { model: string; dimensions: number };
}

/** What a client may write and filter on, per collection. */
export function registerCollectionRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  app.get(
    '/v1/collections',
    {
      schema: routeSchema({
        key: 'tenant',
        tag: 'collections',
        summary: 'The collections: their fields, payload fields and embedder',
        response: { 200: collectionsResponseSchema },
      }),
    },
    async (): Promise<{ collections: CollectionDescription[] }> => ({
      collections: [...runtime.collections.values()].map((collection): CollectionDescription => {
        const definition = collection.definition;
        return {
          name: collection.name,
          // As configured: a column name, or the columns of a composite key in canonical-id order.
          primaryKey: definition.config.primaryKey,
          tenantField: definition.tenantColumn.name,
          versionField: definition.versionColumn.name,
          fields: [...definition.tableInfo.columns.values()].map((column) => ({
            name: column.name,
            type: column.type,
            required: !column.nullable && !column.hasDefault,
          })),
          payloadFields: definition.payloadFields.map((field) => ({ name: field.name, type: field.type })),
          syncMode: definition.config.sync.mode,
          embedder: { model: collection.embedder.modelId, dimensions: collection.embedder.dimensions },
        };
      }),
    }),
  );
}
