/**
 * `vectorsync/fastify`: the service's routes as a plugin for an application's own Fastify.
 *
 * ```ts
 * import Fastify from 'fastify';
 * import { openVectorsync } from 'vectorsync';
 * import { vectorsyncPlugin } from 'vectorsync/fastify';
 *
 * const vectorsync = await openVectorsync('./vectorsync.config.json');
 * const app = Fastify();
 * await app.register(vectorsyncPlugin, { vectorsync });
 * ```
 *
 * @packageDocumentation
 */
export { type VectorsyncPluginOptions, vectorsyncPlugin } from './library/fastify-plugin.js';
export { vectorsyncFrameworkErrors } from './server/framework-errors.js';
