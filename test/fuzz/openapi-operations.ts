/** The operations of an OpenAPI 3.1 document, as the fuzzer needs them. */
export type JsonSchema = Record<string, unknown>;

export interface OpenApiDocument {
  paths: Record<string, Record<string, RawOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

interface RawOperation {
  'x-vectorsync-key'?: string;
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
}

export interface Parameter {
  name: string;
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  /** `GET /v1/collections/{collection}/search` */
  label: string;
  method: string;
  path: string;
  key: 'none' | 'tenant' | 'admin';
  pathParameters: Parameter[];
  queryParameters: Parameter[];
  /** The JSON request body's schema, if the operation takes one. */
  body?: { required: boolean; schema: JsonSchema };
  /** Documented answers by status: the schema by media type, or null for an answer without a body. */
  responses: Map<number, Record<string, JsonSchema> | null>;
}

export function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      const key = raw['x-vectorsync-key'];
      if (key !== 'none' && key !== 'tenant' && key !== 'admin')
        throw new Error(`${method} ${path}: x-vectorsync-key is ${String(key)}`);
      const parameters = (where: string) =>
        (raw.parameters ?? [])
          .filter((parameter) => parameter.in === where)
          .map((parameter) => ({
            name: parameter.name,
            required: parameter.required ?? false,
            schema: parameter.schema ?? {},
          }));
      const bodySchema = raw.requestBody?.content?.['application/json']?.schema;
      const responses = new Map<number, Record<string, JsonSchema> | null>();
      for (const [status, response] of Object.entries(raw.responses ?? {})) {
        const content = response.content;
        responses.set(
          Number(status),
          content
            ? Object.fromEntries(Object.entries(content).map(([type, media]) => [type, media.schema ?? {}]))
            : null,
        );
      }
      operations.push({
        label: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        key,
        pathParameters: parameters('path'),
        queryParameters: parameters('query'),
        ...(bodySchema ? { body: { required: raw.requestBody?.required ?? false, schema: bodySchema } } : {}),
        responses,
      });
    }
  }
  return operations;
}

/** Follows `$ref`s into the document's components. */
export function resolveSchema(document: OpenApiDocument, schema: JsonSchema): JsonSchema {
  let current = schema;
  for (let hops = 0; typeof current.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`$ref loop at ${String(current.$ref)}`);
    const name = /^#\/components\/schemas\/(.+)$/.exec(current.$ref)?.[1];
    const target = name === undefined ? undefined : document.components.schemas[name];
    if (!target) throw new Error(`unresolvable $ref ${String(current.$ref)}`);
    current = target;
  }
  return current;
}
