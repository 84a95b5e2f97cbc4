import { z } from 'zod';

export const collectionParamsSchema = z.strictObject({
  collection: z.string().describe('A collection name (GET /v1/collections lists them)'),
});

export const documentParamsSchema = z.strictObject({
  collection: collectionParamsSchema.shape.collection,
  id: z
    .string()
    .describe(
      "The document's id: its primary key, a composite key's values joined by ',' (docs/http-api.md)",
    ),
});

/**
 * A row of a collection's source table. The OpenAPI document replaces it, per collection, by
 * the columns of the live table (`<collection>Document`); the writer checks every value.
 */
export const documentSchema = z
  .record(z.string(), z.unknown())
  .describe("A row of the collection's source table, by column name")
  .meta({ id: 'Document' });

export const noContentSchema = z.undefined().describe('Deleted (or there was nothing to delete)');
