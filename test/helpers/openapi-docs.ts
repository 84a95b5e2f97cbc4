/** The route reference of docs/http-api.md, rendered from the OpenAPI document. */
export interface OpenApiOperation {
  summary?: string;
  'x-vectorsync-key'?: string;
}

export type OpenApiPaths = Record<string, Record<string, OpenApiOperation>>;

export const routeTableStart =
  '<!-- routes:start (generated from /openapi.json by `npm run docs:http-api`) -->';
export const routeTableEnd = '<!-- routes:end -->';

const keyLabels: Record<string, string> = { none: 'none', tenant: 'tenant', admin: 'admin' };

export function renderRouteTable(paths: OpenApiPaths): string {
  const rows = Object.entries(paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(
      ([method, operation]) =>
        `| \`${method.toUpperCase()}\` | \`${path}\` | ${keyLabels[operation['x-vectorsync-key'] ?? ''] ?? '?'} | ${operation.summary ?? ''} |`,
    ),
  );
  return [
    routeTableStart,
    '| method | path | key | |',
    '| --- | --- | --- | --- |',
    ...rows,
    routeTableEnd,
  ].join('\n');
}

/** The document with its generated table replaced by `table`. */
export function withRouteTable(markdown: string, table: string): string {
  const start = markdown.indexOf(routeTableStart);
  const end = markdown.indexOf(routeTableEnd);
  if (start < 0 || end < start) throw new Error('docs/http-api.md has no generated route table markers');
  return markdown.slice(0, start) + table + markdown.slice(end + routeTableEnd.length);
}

interface Document {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, unknown> };
}

/**
 * The document without what depends on one deployment's config: the live collections'
 * schemas (a generic `Document` instead), the collection names and the seed-style aliases.
 * The client's types are generated from this, so they fit every deployment.
 */
export function deploymentIndependent(document: Document): Document {
  const copy = structuredClone(document);
  for (const path of Object.keys(copy.paths)) if (path.startsWith('/search')) delete copy.paths[path];
  for (const name of Object.keys(copy.components.schemas)) {
    if (name.endsWith('Document') && name !== 'Document') delete copy.components.schemas[name];
  }
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const record = node as Record<string, unknown>;
    const anyOf = record.anyOf as Array<{ $ref?: string }> | undefined;
    if (
      anyOf?.length &&
      anyOf.every((entry) => /^#\/components\/schemas\/\w+Document$/.test(entry.$ref ?? ''))
    ) {
      return { $ref: '#/components/schemas/Document' };
    }
    if (record.in === 'path' && record.name === 'collection') {
      const { enum: _names, ...schema } = record.schema as Record<string, unknown>;
      return { ...record, schema };
    }
    return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, visit(value)]));
  };
  return visit(copy) as Document;
}
