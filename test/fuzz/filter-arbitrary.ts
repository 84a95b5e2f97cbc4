import fc from 'fast-check';
import { hostileKey, hostileValue } from './hostile-values.js';
import { type JsonSchema, type OpenApiDocument, resolveSchema } from './openapi-operations.js';
import { nearMissArbitrary, schemaArbitrary } from './schema-arbitrary.js';

/**
 * Search filters (docs/search.md#filters) over a collection's fields, as the document schema
 * `<collection>Document` lists them: each value of its field's type, or with `hostile` of
 * any type, under any operator. The document cannot say that `filter` is this language (it is
 * a string, or an object); this generator knows.
 */
export function filterArbitrary(
  document: OpenApiDocument,
  collection: string | undefined,
  pool: readonly string[],
  hostile: boolean,
): fc.Arbitrary<unknown> {
  const schema = collection ? document.components.schemas[`${collection}Document`] : undefined;
  const properties = Object.entries(
    ((schema && resolveSchema(document, schema).properties) as Record<string, JsonSchema> | undefined) ?? {},
  );
  if (properties.length === 0) return hostile ? hostileValue : fc.constant({});
  const options = { document, pool, hostile };
  const comparison = fc.constantFrom('eq', 'ne', 'gt', 'gte', 'lt', 'lte');
  const leaf = fc.constantFrom(...properties).chain(([name, property]) => {
    // A filter value reaches SQL as a parameter cast to the field's type: near misses of that
    // type are the values worth trying most.
    const nearMiss = hostile ? nearMissArbitrary(resolveSchema(document, property)) : undefined;
    const value = nearMiss
      ? fc.oneof(
          { weight: 2, arbitrary: schemaArbitrary(property, options) },
          { weight: 1, arbitrary: nearMiss },
        )
      : schemaArbitrary(property, options);
    const field = hostile
      ? fc.oneof({ weight: 5, arbitrary: fc.constant(name) }, { weight: 1, arbitrary: hostileKey })
      : fc.constant(name);
    const condition = fc.oneof(
      value,
      fc.record({ op: comparison, value }).map(({ op, value }) => ({ [op]: value })),
      fc.array(value, { minLength: 1, maxLength: 3 }).map((values) => ({ in: values })),
      fc.boolean().map((exists) => ({ exists })),
      ...(hostile ? [fc.tuple(hostileKey, hostileValue).map(([op, value]) => ({ [op]: value }))] : []),
    );
    return fc
      .tuple(field, condition)
      .map(([key, value]) => Object.defineProperty({}, key, { value, enumerable: true }));
  });
  const { filter } = fc.letrec<{ filter: unknown }>((tie) => ({
    filter: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('filter'), { minLength: 1, maxLength: 3 }).map((all) => ({ and: all })),
      fc.array(tie('filter'), { minLength: 1, maxLength: 3 }).map((any) => ({ or: any })),
      tie('filter').map((one) => ({ not: one })),
    ),
  }));
  return hostile
    ? fc.oneof({ weight: 6, arbitrary: filter }, { weight: 1, arbitrary: hostileValue })
    : filter;
}
