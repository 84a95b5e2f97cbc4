/** One request to every route of the service that needs the database (the outage tests send each). */
export interface DatabaseRouteCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  admin?: boolean;
  payload?: unknown;
}

export const databaseRoutes: readonly DatabaseRouteCall[] = [
  { method: 'GET', url: '/v1/collections' },
  {
    method: 'POST',
    url: '/v1/collections/products/documents',
    payload: { article_id: 'x1', name: 'Parka' },
  },
  { method: 'GET', url: '/v1/collections/products/documents/x1' },
  { method: 'PUT', url: '/v1/collections/products/documents/x1', payload: { name: 'Parka' } },
  { method: 'PATCH', url: '/v1/collections/products/documents/x1', payload: { name: 'Parka' } },
  { method: 'DELETE', url: '/v1/collections/products/documents/x1' },
  { method: 'GET', url: '/v1/collections/products/search?q=parka' },
  { method: 'POST', url: '/v1/collections/products/search', payload: { q: 'parka' } },
  { method: 'GET', url: '/v1/sync/status', admin: true },
  { method: 'GET', url: '/v1/sync/events', admin: true },
  { method: 'POST', url: '/v1/sync/events/retry', admin: true, payload: { ids: [1] } },
  { method: 'POST', url: '/v1/sync/reconcile', admin: true },
  { method: 'GET', url: '/v1/sync/reconcile', admin: true },
  { method: 'DELETE', url: '/v1/sync/reconcile', admin: true },
  { method: 'GET', url: '/v1/indexes/products/status', admin: true },
  { method: 'GET', url: '/v1/indexes/products/history', admin: true },
  { method: 'GET', url: '/metrics', admin: true },
];
