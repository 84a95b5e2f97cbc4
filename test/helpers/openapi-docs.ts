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
