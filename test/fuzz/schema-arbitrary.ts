import fc from 'fast-check';
import { hostileKey, hostileValue, withOwnKey } from './hostile-values.js';
import { type JsonSchema, type OpenApiDocument, resolveSchema } from './openapi-operations.js';

export interface SchemaArbitraryOptions {
  document: OpenApiDocument;
  /** Strings worth trying where a schema allows text: the caller's ids, words of the seeded data. */
  pool: readonly string[];
  /** Mix hostile values, unknown keys and missing required keys into the valid ones. */
  hostile: boolean;
}

const maxDepth = 6;

/** Values for a JSON schema: valid ones, and with `hostile` some of every kind of invalid. */
export function schemaArbitrary(
  schema: JsonSchema,
  options: SchemaArbitraryOptions,
  depth = 0,
): fc.Arbitrary<unknown> {
  const resolved = resolveSchema(options.document, schema);
  const valid = validArbitrary(resolved, options, depth);
  if (!options.hostile) return valid;
  const nearMiss = nearMissArbitrary(resolved);
  return nearMiss
    ? fc.oneof(
        { weight: 8, arbitrary: valid },
        { weight: 1, arbitrary: nearMiss },
        { weight: 1, arbitrary: hostileValue },
      )
    : fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: hostileValue });
}

/**
 * Values that nearly fit the schema, the ones a check is most likely to let through to
 * Postgres: dates that JavaScript parses and Postgres does not, digits past int8, text with a
 * NUL byte or a lone surrogate.
 */
export function nearMissArbitrary(schema: JsonSchema): fc.Arbitrary<unknown> | undefined {
  if (schema.format === 'date-time' || schema.format === 'date')
    return fc.constantFrom(
      '1',
      '2020-02-30T00:00:00Z',
      '2020-02-30',
      '0000-01-01T00:00:00Z',
      '+275760-09-13T00:00:00Z',
      'infinity',
      '2024-01-01T25:00:00Z',
      '2024-1-1',
    );
  if (typeof schema.pattern === 'string' && /\\d/.test(schema.pattern))
    return fc.constantFrom(
      '9223372036854775808',
      '9999999999999999999',
      '-9223372036854775809',
      '0'.repeat(19),
      '١',
    );
  if (schema.type === 'string' || (Array.isArray(schema.type) && schema.type.includes('string')))
    return fc.constantFrom('a\u0000b', '\ud800', 'x\udfff', '\u0000');
  if (schema.type === 'integer' || schema.type === 'number')
    return fc.constantFrom(2 ** 63, -(2 ** 63) * 2, 1e308, -0, 2 ** 31, 2 ** 53 + 2, 0.5);
  return undefined;
}

function validArbitrary(
  schema: JsonSchema,
  options: SchemaArbitraryOptions,
  depth: number,
): fc.Arbitrary<unknown> {
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const branches = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (branches) return fc.oneof(...branches.map((branch) => schemaArbitrary(branch, options, depth)));
  const type = schema.type;
  if (Array.isArray(type))
    return fc.oneof(...type.map((one) => validArbitrary({ ...schema, type: one }, options, depth)));
  switch (type) {
    case 'string':
      return stringArbitrary(schema, options.pool);
    case 'integer':
      return integerArbitrary(schema);
    case 'number':
      return fc.oneof(
        integerArbitrary(schema),
        fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
      );
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = (schema.items as JsonSchema | undefined) ?? {};
      const minLength = (schema.minItems as number | undefined) ?? 0;
      const maxLength = Math.min((schema.maxItems as number | undefined) ?? 4, minLength + 4);
      if (depth >= maxDepth) return fc.constant([]);
      return fc.array(schemaArbitrary(items, options, depth + 1), { minLength, maxLength });
    }
    case 'object':
      return objectArbitrary(schema, options, depth);
    default:
      // `{}`: any JSON value.
      return depth >= maxDepth ? fc.constant(null) : fc.jsonValue({ maxDepth: 2 });
  }
}

function stringArbitrary(schema: JsonSchema, pool: readonly string[]): fc.Arbitrary<string> {
  const maxLength = (schema.maxLength as number | undefined) ?? 4096;
  const fits = (value: string) =>
    value.length <= maxLength &&
    (typeof schema.pattern !== 'string' || new RegExp(schema.pattern).test(value));
  switch (schema.format) {
    case 'date-time':
      return fc
        .date({
          min: new Date('1900-01-01T00:00:00Z'),
          max: new Date('2200-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((date) => date.toISOString());
    case 'date':
      return fc
        .date({
          min: new Date('1900-01-01T00:00:00Z'),
          max: new Date('2200-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((date) => date.toISOString().slice(0, 10));
    case 'uuid':
      return fc.uuid();
  }
  if (typeof schema.pattern === 'string') {
    const pattern = new RegExp(schema.pattern);
    // Integer text (k, limit, ids): small numbers are the ones a route accepts.
    return fc.oneof(
      { weight: 1, arbitrary: fc.stringMatching(pattern).filter(fits) },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 50 }).map(String).filter(fits) },
    );
  }
  const fromPool = pool.filter(fits);
  const text = fc.oneof(
    fc.string({ maxLength: Math.min(maxLength, 30) }),
    fc.string({ unit: 'grapheme', maxLength: Math.min(maxLength, 12) }),
  );
  return fromPool.length > 0
    ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...fromPool) }, { weight: 1, arbitrary: text })
    : text;
}

function integerArbitrary(schema: JsonSchema): fc.Arbitrary<number> {
  const min = Math.max((schema.minimum as number | undefined) ?? -(2 ** 31), Number.MIN_SAFE_INTEGER);
  const max = Math.min((schema.maximum as number | undefined) ?? 2 ** 31, Number.MAX_SAFE_INTEGER);
  // Small values are the ones routes accept (k, limit, offset): try them most often.
  const small = fc.integer({ min: Math.max(min, -5), max: Math.min(max, 120) });
  return min <= max
    ? fc.oneof({ weight: 3, arbitrary: small }, { weight: 1, arbitrary: fc.integer({ min, max }) })
    : small;
}

function objectArbitrary(
  schema: JsonSchema,
  options: SchemaArbitraryOptions,
  depth: number,
): fc.Arbitrary<unknown> {
  const properties = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
  const required = (schema.required as string[] | undefined) ?? [];
  // Read-only properties are the server's to set; a valid request leaves them out.
  const writable = Object.entries(properties).filter(([name, property]) => {
    const resolved = resolveSchema(options.document, property);
    return resolved.readOnly !== true || required.includes(name);
  });
  const model = Object.fromEntries(
    writable.map(([name, property]) => [name, schemaArbitrary(property, options, depth + 1)]),
  );
  const extra = schema.additionalProperties;
  const open = extra !== false && Object.keys(properties).length === 0;
  const base = open
    ? fc.dictionary(
        fc.string({ maxLength: 8 }),
        depth >= maxDepth
          ? fc.constant(null)
          : schemaArbitrary(typeof extra === 'object' ? (extra as JsonSchema) : {}, options, depth + 1),
        { maxKeys: 3 },
      )
    : recordArbitrary(model, required);
  if (!options.hostile) return base;
  // Hostile objects: a required key missing, unknown keys (prototype keys among them).
  return fc
    .tuple(
      base,
      fc.array(fc.tuple(hostileKey, hostileValue), { maxLength: 2 }),
      required.length > 0 ? fc.option(fc.constantFrom(...required), { freq: 4 }) : fc.constant(null),
    )
    .map(([value, extras, drop]) => {
      const object = { ...(value as Record<string, unknown>) };
      if (drop !== null) delete object[drop];
      for (const [key, extraValue] of extras) withOwnKey(object, key, extraValue);
      return object;
    });
}

/**
 * The required properties and up to three optional ones: with all of a search request's eleven
 * optional fields half the time each, almost no generated request would be valid as a whole.
 */
function recordArbitrary(
  model: Record<string, fc.Arbitrary<unknown>>,
  required: readonly string[],
): fc.Arbitrary<unknown> {
  const requiredKeys = required.filter((name) => name in model);
  const optional = Object.keys(model).filter((name) => !requiredKeys.includes(name));
  return fc.subarray(optional, { maxLength: Math.min(3, optional.length) }).chain((chosen) => {
    const keys = [...requiredKeys, ...chosen];
    return fc.record(Object.fromEntries(keys.map((name) => [name, model[name]!])), { requiredKeys: keys });
  });
}
