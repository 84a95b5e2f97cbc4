import type { CollectionDefinition } from '../../config/collection-definition.js';
import type { ColumnInfo } from '../../db/table-introspection.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';

type JsonSchema = Record<string, unknown>;

interface OpenApiDocument {
  paths?: Record<string, Record<string, OperationObject>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

interface OperationObject {
  parameters?: Array<{ in: string; name: string; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
}

/** The generic document schema, as a request body (`…Input`) and as an answer. */
const genericDocumentRefs = new Set(['#/components/schemas/Document', '#/components/schemas/DocumentInput']);

/**
 * Adds what only the running service knows: each collection's document schema, read from its
 * live source table (`<collection>Document`), and the collection names as the `collection`
 * path parameter's values. Document bodies and answers become one of those schemas.
 */
export function addCollectionSchemas(document: OpenApiDocument, runtime: VectorsyncRuntime): OpenApiDocument {
  document.components ??= {};
  document.components.schemas ??= {};
  const schemas = document.components.schemas;
  const refs: JsonSchema[] = [];
  for (const collection of runtime.collections.values()) {
    const name = `${collection.name}Document`;
    schemas[name] = collectionDocumentSchema(collection.definition);
    refs.push({ $ref: `#/components/schemas/${name}` });
  }
  const names = [...runtime.collections.keys()];
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in === 'path' && parameter.name === 'collection' && names.length > 0)
          parameter.schema = { ...parameter.schema, enum: names };
      }
      const bodies = [
        ...Object.values(operation.requestBody?.content ?? {}),
        ...Object.values(operation.responses ?? {}).flatMap((response) =>
          Object.values(response.content ?? {}),
        ),
      ];
      for (const body of bodies) {
        const ref = body.schema?.$ref;
        if (typeof ref === 'string' && genericDocumentRefs.has(ref) && refs.length > 0)
          body.schema = { anyOf: refs };
      }
    }
  }
  return document;
}

/** A collection's row as JSON: one property per column of the live table. */
export function collectionDocumentSchema(definition: CollectionDefinition): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const tenant = definition.tenantColumn.name;
  const managedVersion = definition.config.manageVersion ? definition.versionColumn.name : undefined;
  for (const column of definition.tableInfo.columns.values()) {
    const schema = columnSchema(column);
    const notes = [`${column.type}`];
    if (column.name === tenant) notes.push('the tenant: set from the API key (omit it, or repeat it)');
    if (column.name === managedVersion) notes.push('managed by vectorsync: read-only');
    if (column.isGenerated) notes.push('generated: read-only');
    properties[column.name] = {
      ...(column.nullable ? nullable(schema) : schema),
      description: notes.join('; '),
      ...(column.isGenerated || column.name === managedVersion ? { readOnly: true } : {}),
    };
    const writable = !column.isGenerated && column.name !== managedVersion && column.name !== tenant;
    if (writable && !column.nullable && !column.hasDefault) required.push(column.name);
  }
  return {
    type: 'object',
    title: `A row of collection "${definition.name}"`,
    description: `Required on create: ${required.join(', ') || 'nothing'}. Unknown fields are refused.`,
    properties,
    additionalProperties: false,
  };
}

const integerRanges: Record<string, [number, number]> = {
  int2: [-32768, 32767],
  int4: [-2147483648, 2147483647],
};

function columnSchema(column: ColumnInfo): JsonSchema {
  if (column.baseType.startsWith('_')) {
    const element = columnSchema({ ...column, baseType: column.baseType.slice(1), type: column.type });
    return { type: 'array', items: element };
  }
  const range = integerRanges[column.baseType];
  if (range) return { type: 'integer', minimum: range[0], maximum: range[1] };
  switch (column.baseType) {
    case 'int8':
      // Postgres answers bigint as text (beyond 2^53 a JSON number would lose digits).
      return { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?\\d{1,19}$' }] };
    case 'numeric':
      return { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^-?\\d+(\\.\\d+)?$' }] };
    case 'float4':
    case 'float8':
      return { type: 'number' };
    case 'bool':
      return { type: 'boolean' };
    case 'uuid':
      return { type: 'string', format: 'uuid' };
    case 'timestamptz':
    case 'timestamp':
      return { type: 'string', format: 'date-time' };
    case 'date':
      return { type: 'string', format: 'date' };
    case 'json':
    case 'jsonb':
      return {};
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'citext':
    case 'name':
      return { type: 'string', ...maxLength(column.type) };
    default:
      return {};
  }
}

function maxLength(type: string): JsonSchema {
  const match = /\((\d+)\)/.exec(type);
  return match ? { maxLength: Number(match[1]) } : {};
}

function nullable(schema: JsonSchema): JsonSchema {
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] };
  if (Object.keys(schema).length === 0) return schema;
  return { anyOf: [schema, { type: 'null' }] };
}
