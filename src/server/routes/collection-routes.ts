import type { FastifyInstance } from 'fastify';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';

/** What a client may write and filter on, per collection. */
export function registerCollectionRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  app.get('/v1/collections', async () => ({
    collections: [...runtime.collections.values()].map((collection) => {
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
  }));
}
