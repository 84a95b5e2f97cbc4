import type { FastifyRequest } from 'fastify';

const unauthenticatedRoutes = new Set(['/healthz', '/readyz']);

/**
 * Whether the request was routed to a route that needs no API key. It asks the router (the
 * route's declared path) rather than comparing the raw URL, so `/healthz/`, `/healthz?x=1`, a
 * path the router normalises and the plugin's prefix all resolve to the same answer.
 */
export function isUnauthenticatedRoute(request: FastifyRequest, prefix: string): boolean {
  const route = request.routeOptions.url;
  if (route === undefined || !route.startsWith(prefix)) return false;
  return unauthenticatedRoutes.has(route.slice(prefix.length));
}
